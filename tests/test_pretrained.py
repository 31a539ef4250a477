"""Published weights by name: the table, the download into the Keras cache, its hash check and its failures.

A local HTTP server on 127.0.0.1 (`Server`) serves checkpoints the tests generate; KERAS_HOME points at a
tmp folder, RESNET_WEIGHTS_MIRROR at the server, and the table entry under test carries the generated file's
hash (`helpers.publish`), so nothing here needs the network.
"""

import hashlib
import http.server
import json
import re
import socket
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_cifar_weights import random_pixels, save_as_akamaster, torch_logits, trained_looking  # noqa: E402
from test_data import small_folder  # noqa: E402
from test_weights import max_diff  # noqa: E402

import keras_resnet as kr  # noqa: E402
from helpers import publish, run_cli  # noqa: E402
from keras_resnet.errors import UserError  # noqa: E402
from keras_resnet.models import download, pretrained, specs  # noqa: E402
from keras_resnet.models.download import DownloadError  # noqa: E402
from keras_resnet.models.saving import load_keras_model  # noqa: E402
from keras_resnet.training import fit  # noqa: E402


class Server:
    """http.server on 127.0.0.1 in a thread. `files` {path: bytes} are served whole; `cut` ones announce a
    Content-Length twice their size, send the bytes and close the connection; every other path is a 404.
    `requests` lists every path asked for."""

    def __init__(self):
        self.files, self.cut, self.requests = {}, {}, []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path, server.cut.get(self.path))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) * (2 if self.path in server.cut else 1)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        return Handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(monkeypatch):
    served = Server()
    monkeypatch.setenv(pretrained.MIRROR, served.url + "/mirror")
    yield served
    served.close()


@pytest.fixture()
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


@pytest.fixture(scope="module")
def akamaster_net():
    return trained_looking(20)


@pytest.fixture(scope="module")
def checkpoint(akamaster_net, tmp_path_factory):
    """The bytes of a ResNet-20 checkpoint in akamaster's format (random weights)."""
    path = tmp_path_factory.mktemp("ckpt") / "resnet20.th"
    save_as_akamaster(akamaster_net, path)
    return path.read_bytes()


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cached(keras_home) -> list[str]:
    """Every file in the cache folder, hidden temporaries included."""
    folder = keras_home / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- the download -----------------------------------------------------------------------------------------


def test_a_published_file_downloads_once_then_loads_from_the_cache_alone(
    server, keras_home, checkpoint, akamaster_net, monkeypatch
):
    entry = publish(monkeypatch, checkpoint, "cifar10", "resnet20")
    server.files[f"/mirror/{entry.file_name}"] = checkpoint
    pixels = random_pixels()

    first = kr.ResNet20(weights="cifar10", classifier_activation=None)
    again = kr.ResNet20(weights="cifar10", classifier_activation=None)
    requests_after_two_builds = list(server.requests)
    monkeypatch.setenv(pretrained.MIRROR, f"http://127.0.0.1:{closed_port()}")  # no network from here on
    offline = kr.ResNet20(weights="cifar10", classifier_activation=None)

    assert requests_after_two_builds == [f"/mirror/{entry.file_name}"]
    assert cached(keras_home) == [entry.file_name]  # KERAS_HOME/models/, no temporary left beside it
    assert (keras_home / "models" / entry.file_name).read_bytes() == checkpoint
    expected = torch_logits(akamaster_net, pixels)
    for model in (first, again, offline):
        assert max_diff(model.predict(pixels, verbose=0), expected) <= 1e-4


def test_a_wrong_hash_is_refused_and_leaves_nothing(server, keras_home, checkpoint, monkeypatch):
    entry = publish(monkeypatch, checkpoint, "cifar10", "resnet20")
    middle = len(checkpoint) // 2
    server.files[f"/mirror/{entry.file_name}"] = (
        checkpoint[:middle] + bytes([checkpoint[middle] ^ 1]) + checkpoint[middle + 1 :]
    )  # one bit differs

    with pytest.raises(DownloadError) as refused:
        kr.ResNet20(weights="cifar10")

    message = str(refused.value)
    assert message.startswith(
        f"The file downloaded from {server.url}/mirror/{entry.file_name} does not match its "
        f"published SHA-256 ({entry.file_hash}, got "
    )
    assert "\n" not in message and cached(keras_home) == []


@pytest.mark.parametrize("failure", ["404", "refused", "cut"])
def test_a_failed_download_gives_one_line_and_leaves_nothing(failure, server, keras_home, checkpoint, monkeypatch):
    entry = publish(monkeypatch, checkpoint, "cifar10", "resnet20")
    if failure == "refused":
        monkeypatch.setenv(pretrained.MIRROR, f"http://127.0.0.1:{closed_port()}/mirror")
    if failure == "cut":
        server.cut[f"/mirror/{entry.file_name}"] = checkpoint[: len(checkpoint) // 2]
    url = pretrained.origin(entry)

    with pytest.raises(DownloadError) as failed:
        kr.ResNet20(weights="cifar10")

    message = str(failed.value)
    reason = {"404": "HTTP 404 Not Found", "refused": "Connection refused", "cut": "retrieval incomplete"}[failure]
    assert message.startswith(f"Could not download the cifar10 weights of resnet20 from {url} (")
    assert reason in message and f"put it at {keras_home / 'models' / entry.file_name}, then run again" in message
    assert "\n" not in message and cached(keras_home) == []


def test_a_damaged_cached_file_is_replaced_by_a_good_download(server, keras_home, checkpoint, monkeypatch):
    entry = publish(monkeypatch, checkpoint, "cifar10", "resnet20")
    server.files[f"/mirror/{entry.file_name}"] = checkpoint
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / entry.file_name).write_bytes(checkpoint[:1000])  # an interrupted hand copy

    kr.ResNet20(weights="cifar10")

    assert len(server.requests) == 1 and (keras_home / "models" / entry.file_name).read_bytes() == checkpoint


@pytest.mark.parametrize("kind", ["sha256", "md5", "sha256-prefix"])
def test_each_hash_kind_accepts_its_file_and_refuses_another(kind, tmp_path, monkeypatch):
    content = b"weights" * 1000
    weights, model, options = {
        "sha256": ("cifar10", "resnet20", {}),
        "sha256-prefix": ("imagenet", "resnet18", {}),
        "md5": ("imagenet", "resnet50", {"variant": "v1"}),
    }[kind]
    entry = publish(monkeypatch, content, weights, model, **options)
    good, other = tmp_path / "good", tmp_path / "other"
    good.write_bytes(content)
    other.write_bytes(content + b"!")

    assert entry.hash_kind == kind and len(entry.file_hash) == {"sha256": 64, "md5": 32, "sha256-prefix": 8}[kind]
    assert download.matches(str(good), entry) and not download.matches(str(other), entry)


# --- the table --------------------------------------------------------------------------------------------


def test_the_table_holds_every_published_file_once_with_consistent_hashes():
    keys = [(e.weights, e.model, e.variant, e.preact, e.top) for e in pretrained.PUBLISHED]
    assert len(keys) == len(set(keys)) == 8 + 12 + 6
    assert pretrained.NAMES == ("imagenet", "imagenet-v2", "cifar10")
    for entry in pretrained.PUBLISHED:
        assert entry.model in specs.REGISTRY and entry.preprocess in specs.PREPROCESSING
        assert re.fullmatch(
            {"md5": "[0-9a-f]{32}", "sha256": "[0-9a-f]{64}", "sha256-prefix": "[0-9a-f]{8}"}[entry.hash_kind],
            entry.file_hash,
        ), entry
        if entry.hash_kind != "md5":  # torch.hub names: the first hex digits of the SHA-256
            assert entry.file_hash.startswith(pretrained.HASH_IN_NAME.search(entry.file_name).group(1))
        options = {"variant": entry.variant, "preact": entry.preact, "include_top": entry.top is not False}
        assert pretrained.resolve(entry.weights, specs.REGISTRY[entry.model], options) == entry


def test_the_real_cifar_files_have_the_recorded_hashes():
    from helpers import SHARED

    folder = SHARED / "weights" / "cifar10"
    entries = [e for e in pretrained.PUBLISHED if e.hash_kind == "sha256" and (folder / e.file_name).exists()]
    if not entries:
        pytest.skip(f"akamaster's checkpoints are not at {folder}")
    for entry in entries:
        assert hashlib.sha256((folder / entry.file_name).read_bytes()).hexdigest() == entry.file_hash


@pytest.mark.parametrize(
    "weights,model,options,preprocess,message",
    [
        ("imagenet", "resnet20", {}, None, "weights='imagenet' are published for resnet18, resnet34, resnet50"),
        ("cifar10", "resnet18", {}, None, "weights='cifar10' are published for resnet20, resnet32"),
        ("imagenet-v2", "resnet18", {}, None, "are published for resnet50, resnet101, resnet152"),
        (
            "imagenet",
            "resnet50",
            {"preact": True},
            None,
            "published for variant='v1.5' or variant='v1' or variant='v1', preact=True. Received: variant='v1.5', "
            "preact=True",
        ),
        ("imagenet", "resnet18", {"variant": "v1"}, None, "published for variant='v1.5'. Received: variant='v1'"),
        ("cifar10", "resnet20", {"width": 0.5}, None, "leave width and shortcut out. Received: width=0.5"),
        ("cifar10", "resnet20", {"shortcut": "B"}, None, "(width 1, shortcut option A)"),
        ("cifar10", "resnet20", {"classes": 100}, None, "pass include_top=False for a new one, or classes=10"),
        ("cifar10", "resnet20", {}, "cifar10", "trained on inputs normalised as 'imagenet' (mean (123.675"),
        ("imagenet", "resnet50", {"variant": "v1"}, "imagenet", "normalised as 'caffe'"),
    ],
)
def test_a_name_the_model_cannot_take_is_refused_saying_what_to_pass(weights, model, options, preprocess, message):
    with pytest.raises(UserError, match=re.escape(message)):
        kr.create_model(model, weights=weights, preprocess=preprocess, **options)


def test_published_weights_set_their_preprocessing_and_accept_the_same_one(monkeypatch, tmp_path, checkpoint):
    publish(monkeypatch, checkpoint, "cifar10", "resnet20", keras_home=tmp_path)
    imagenet = specs.PREPROCESSING["imagenet"]

    default = kr.ResNet20(weights="cifar10").get_layer("preprocess").get_config()
    by_name = kr.ResNet20(weights="cifar10", preprocess="imagenet").get_layer("preprocess").get_config()
    as_pair = kr.ResNet20(weights="cifar10", preprocess=[list(v) for v in imagenet]).get_layer("preprocess")

    for config in (default, by_name, as_pair.get_config()):
        assert np.allclose(np.ravel(config["mean"]), imagenet[0]) and np.allclose(
            np.ravel(config["variance"]), np.square(imagenet[1])
        )


@pytest.mark.parametrize("preact", [False, True])
def test_keras_applications_weights_take_raw_rgb_pixels(preact, monkeypatch, tmp_path):
    """variant="v1" (preact: V2): keras.applications' file, with its `preprocess_input` folded in ("caffe":
    BGR, mean subtracted; "tf": -1..1). Ours on raw RGB pixels equals keras.applications on preprocessed ones."""
    import tf_keras
    from test_models import randomize_batchnorm

    peer = getattr(tf_keras.applications, "ResNet50V2" if preact else "ResNet50")(
        weights=None, input_shape=(64, 64, 3), classifier_activation=None
    )
    prepare = getattr(tf_keras.applications, "resnet_v2" if preact else "resnet").preprocess_input
    randomize_batchnorm(peer)
    path = tmp_path / "resnet50.h5"
    peer.save_weights(str(path))
    publish(
        monkeypatch,
        path.read_bytes(),
        "imagenet",
        "resnet50",
        keras_home=tmp_path / "keras",
        variant="v1",
        preact=preact,
    )
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)

    ours = kr.ResNet50(
        variant="v1", preact=preact, weights="imagenet", input_shape=(64, 64, 3), classifier_activation=None
    )
    expected = peer.predict(prepare(pixels.copy()), verbose=0)
    unprepared = peer.predict(pixels, verbose=0)
    swapped = peer.predict(prepare(pixels[..., ::-1].copy()), verbose=0)
    bound = 1e-5 * max(1.0, float(np.abs(expected).max()))

    assert max_diff(ours.predict(pixels, verbose=0), expected) <= bound
    assert max_diff(unprepared, expected) > 100 * bound  # the comparison sees the preprocessing
    assert preact or max_diff(swapped, expected) > 100 * bound  # and, for BGR weights, the channel order


# --- the commands -----------------------------------------------------------------------------------------


def test_resnet_train_plans_a_named_run_before_tensorflow_and_refuses_a_wrong_one(tmp_path, cifar_jpg):
    run = fit.plan(
        "resnet18",
        f"folder:{cifar_jpg}",
        str(tmp_path / "run"),
        "finetune",
        resume=False,
        weights="imagenet",
        input_size=32,
        model_options={},
    )
    assert run.config["weights"] == "imagenet"
    assert run.config["preprocess"] == [list(v) for v in specs.PREPROCESSING["imagenet"]]
    with pytest.raises(UserError, match="weights='cifar10' are published for resnet20"):
        fit.plan(
            "resnet18",
            f"folder:{cifar_jpg}",
            str(tmp_path / "run"),
            "finetune",
            resume=False,
            weights="cifar10",
            input_size=32,
            model_options={},
        )
    with pytest.raises(
        UserError,
        match=r"weights takes a published name \(imagenet, imagenet-v2, cifar10\) or .*"
        r"Received: weights='imagenet1k'",
    ):
        fit.plan(
            "resnet18",
            f"folder:{cifar_jpg}",
            str(tmp_path / "run"),
            "finetune",
            resume=False,
            weights="imagenet1k",
            input_size=32,
            model_options={},
        )


def test_convert_without_network_names_the_url_and_the_path_in_one_line(tmp_path):
    port = closed_port()
    env = {"KERAS_HOME": str(tmp_path / "keras"), pretrained.MIRROR: f"http://127.0.0.1:{port}"}

    result = run_cli(
        "resnet-tflite", "convert", "resnet20", "--weights", "cifar10", "--out", tmp_path / "r20.tflite", env=env
    )

    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr and len(errors) == 1, result.stderr
    path = tmp_path / "keras" / "models" / "resnet20-12fca82f.th"
    assert errors[0] == (
        f"error: Could not download the cifar10 weights of resnet20 from http://127.0.0.1:{port}/"
        f"resnet20-12fca82f.th ([Errno 111] Connection refused): download that file where there is "
        f"network and put it at {path}, then run again. Received: --weights cifar10"
    )
    assert cached(tmp_path / "keras") == [] and not (tmp_path / "r20.tflite").exists()


NO_TENSORFLOW = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None"  # importing them fails


def test_convert_refuses_a_name_the_model_cannot_take_before_tensorflow(tmp_path):
    result = run_cli(
        "resnet-tflite",
        "convert",
        "resnet20",
        "--weights",
        "cifar10",
        "--preprocess",
        "cifar10",
        "--out",
        tmp_path / "r20.tflite",
        prelude=NO_TENSORFLOW,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        "error: --weights cifar10 of resnet20 were trained on inputs normalised as 'imagenet'"
    )  # the library's weights='cifar10', as the command spells it


def test_fine_tuning_from_a_name_trains_on_the_published_backbone(
    cifar_jpg, tmp_path, monkeypatch, checkpoint, akamaster_net
):
    """fit(weights="cifar10"): the file from the cache, its backbone frozen in the head-only phase."""
    publish(monkeypatch, checkpoint, "cifar10", "resnet20", keras_home=tmp_path / "keras")
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(32, 8), classes=["cat", "dog", "ship"])
    out = tmp_path / "run"

    metrics = fit.fit(
        "resnet20",
        f"folder:{folder}",
        str(out),
        "finetune",
        weights="cifar10",
        epochs=1,
        head_epochs=1,
        batch_size=32,
        verbose=0,
    )

    config = json.loads((out / "config.json").read_text())
    model = load_keras_model(str(out / "last.keras"))
    conv1 = akamaster_net.conv1.weight.detach().numpy().transpose(2, 3, 1, 0)
    assert config["weights"] == "cifar10" and metrics["epochs"] == 1
    assert config["preprocess"] == [list(v) for v in specs.PREPROCESSING["imagenet"]]
    np.testing.assert_array_equal(model.get_layer("conv1_conv").kernel.numpy(), conv1)
    assert model.get_layer("predictions").kernel.shape == (64, 3)

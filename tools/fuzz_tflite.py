"""Fuzz every .tflite reader of the package with damaged real models: none may crash, hang or abort.

    .venv/bin/python tools/fuzz_tflite.py --seconds 600            # a bounded run; prints cases/s
    .venv/bin/python tools/fuzz_tflite.py --replay tests/data/fuzz  # re-run saved inputs (exit 1 on a crash)

Seeds are small models converted on the fly (int8 with our metadata, uint8, float32, an int8 ResNet-8),
cached in .cache/fuzz-seeds. Each case is a seed with one to three mutations: bit flips, bytes set to
edge values, 32-bit words (offsets, lengths, indices) overwritten, truncation, splices of two models, or
a structural change made through the flatbuffer object API (a tensor's shape, type, buffer or
quantization, an operator's inputs, outputs, code or options, the graph's inputs), which yields a valid
flatbuffer with wrong contents and so reaches past LiteRT's verifier into its kernels and TFLite-Micro.

Every case goes through what the commands do with a file (TARGETS): `edgetpu` (flatbuffer.read, the
preflight), `micro` (the whole export: reader, resolver, TFLite-Micro arena measurement), `bench`
(read_model, the interpreter, timed invokes, MAC count), `eval` (tflite_check, evaluation) and
`metadata` (metadata.read). The only acceptable failure is a UserError (one clear line at the command
line). The cases run in a worker process, so a crash inside native code (a segfault, an abort) or a hang
is caught too: the worker is restarted and the input is saved in --out as <kind>-<sha1>.tflite, which
tests/test_fuzz.py replays forever after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import random
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / ".cache" / "fuzz-seeds"
OUT = ROOT / "tests" / "data" / "fuzz"
CASE_TIMEOUT_S = 60.0
WORKER_MEMORY_BYTES = 4 * 2**30  # a damaged size must fail as an error, not exhaust the machine
INTERESTING_32 = (0, 1, 2, 4, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
INTERESTING_8 = (0, 1, 0x7F, 0x80, 0xFF)


# --- seeds ----------------------------------------------------------------------------------------------


def make_seeds(directory: pathlib.Path) -> list[pathlib.Path]:
    """Small real models to mutate (needs TensorFlow; made once and cached)."""
    import keras
    import numpy as np

    from keras_resnet.export import convert
    from keras_resnet.files import write_bytes
    from keras_resnet.lite import metadata
    from keras_resnet.models.builders import create_model

    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    tiny = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.DepthwiseConv2D(3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    resnet = create_model("resnet8", input_shape=(16, 16, 3), width=0.25, classes=4, preprocess="cifar10")

    def calibration(shape):
        x = np.random.default_rng(0).integers(0, 256, (4, *shape)).astype(np.float32)
        return convert.representative_from(x)

    models = {
        "tiny_int8_meta": metadata.embed(
            convert.convert_keras(tiny, "int8", calibration((8, 8, 3))), {"classes": list("abcde"), "mode": "int8"}
        ),
        "tiny_uint8": convert.convert_keras(tiny, "int8", calibration((8, 8, 3)), "uint8"),
        "tiny_float32": convert.convert_keras(tiny, "float32"),
        "resnet8_int8": convert.convert_keras(resnet, "int8", calibration((16, 16, 3))),
    }
    for name, data in models.items():
        write_bytes(directory / f"{name}.tflite", data)
    return sorted(directory.glob("*.tflite"))


def load_seeds(directory: pathlib.Path) -> list[bytes]:
    paths = sorted(directory.glob("*.tflite")) or make_seeds(directory)
    return [p.read_bytes() for p in paths]


# --- mutations ------------------------------------------------------------------------------------------


def flip_bits(data: bytearray, rng: random.Random, seeds) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return data


def set_bytes(data: bytearray, rng: random.Random, seeds) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.choice(INTERESTING_8)
    return data


def overwrite_word(data: bytearray, rng: random.Random, seeds) -> bytearray:
    """A 32-bit little-endian word, where flatbuffers keep offsets, lengths and indices, set to an edge value
    or nudged (an offset moved by a few bytes lands on the wrong field)."""
    if len(data) < 8:
        return data
    at = rng.randrange(0, len(data) - 3) & ~3
    old = struct.unpack_from("<I", data, at)[0]
    new = rng.choice(
        [
            rng.choice(INTERESTING_32),
            old + rng.randint(-16, 16),
            len(data) - at + rng.randint(-8, 8),
            rng.getrandbits(32),
        ]
    )
    struct.pack_into("<I", data, at, new % 2**32)
    return data


def truncate(data: bytearray, rng: random.Random, seeds) -> bytearray:
    return data[: rng.randint(8, max(8, len(data) - 1))]


def splice(data: bytearray, rng: random.Random, seeds) -> bytearray:
    """Part of another model pasted in, or a chunk of this one repeated or cut out."""
    other = rng.choice(seeds)
    a, b = sorted(rng.randrange(len(data)) for _ in range(2))
    kind = rng.randrange(3)
    if kind == 0:
        start = rng.randrange(len(other))
        return data[:a] + other[start : start + (b - a)] + data[b:]
    if kind == 1:
        return data[:b] + data[a:b] + data[b:]
    return data[:a] + data[b:]


def structural(data: bytearray, rng: random.Random, seeds) -> bytearray:
    """A valid flatbuffer with one wrong field, made through the schema's object API."""
    import numpy as np

    from keras_resnet.lite.flatbuffer import pack, unpack

    model = unpack(data)
    graph = model.subgraphs[0]
    tensor = rng.choice(graph.tensors)
    operator = rng.choice(graph.operators) if graph.operators else None
    edge = rng.choice([0, 1, -1, 2, 3, 255, 65535, 2**31 - 1, -(2**31), rng.randint(-4, 4)])
    choice = rng.randrange(11)
    if choice == 0 and tensor.shape is not None and len(tensor.shape):
        tensor.shape = np.array(tensor.shape)
        tensor.shape[rng.randrange(len(tensor.shape))] = edge
    elif choice == 1:
        tensor.shape = np.array([rng.choice([1, 2, 3, 8, 0, -1]) for _ in range(rng.randint(0, 6))], np.int32)
    elif choice == 2:
        tensor.type = rng.randrange(-1, 20)
    elif choice == 3:
        tensor.buffer = rng.choice([0, len(model.buffers) - 1, len(model.buffers), rng.randrange(len(model.buffers))])
    elif choice == 4 and tensor.quantization is not None:
        q = tensor.quantization
        if rng.random() < 0.5 and q.scale is not None:
            q.scale = np.array(
                [rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e-30, 1e30])] * len(q.scale), np.float32
            )
        else:
            q.zeroPoint = np.array([edge], np.int64)
            q.quantizedDimension = rng.choice([0, 3, 7, -1])
    elif choice == 5 and operator is not None:
        field = rng.choice(["inputs", "outputs"])
        values = np.array(getattr(operator, field) if getattr(operator, field) is not None else [], np.int32)
        if len(values) and rng.random() < 0.8:
            values[rng.randrange(len(values))] = rng.choice(
                [-1, 0, len(graph.tensors), edge, rng.randrange(len(graph.tensors))]
            )
        else:
            values = values[:-1] if len(values) and rng.random() < 0.5 else np.append(values, rng.randrange(-1, 5))
        setattr(operator, field, values)
    elif choice == 6 and operator is not None:
        operator.opcodeIndex = rng.choice([0, len(model.operatorCodes) - 1, len(model.operatorCodes), edge % 2**32])
    elif choice == 7 and operator is not None and operator.builtinOptions is not None:
        options = vars(operator.builtinOptions)
        if options:
            key = rng.choice(sorted(options))
            if isinstance(options[key], (int, float, bool)) or options[key] is None:
                setattr(operator.builtinOptions, key, rng.choice([edge % 128, 0, 1, 2, 7]))
    elif choice == 8:
        code = rng.choice(model.operatorCodes)
        code.builtinCode = rng.randrange(0, 210)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    elif choice == 9:
        field = rng.choice(["inputs", "outputs"])
        setattr(
            graph,
            field,
            np.array(
                [
                    rng.choice([-1, 0, len(graph.tensors), rng.randrange(len(graph.tensors))])
                    for _ in range(rng.randint(0, 2))
                ],
                np.int32,
            ),
        )
    else:
        buffer = rng.choice(model.buffers)
        if buffer.data is not None and len(buffer.data):
            buffer.data = buffer.data[: rng.randrange(len(buffer.data))]
        else:
            buffer.data = np.frombuffer(os.urandom(rng.randint(1, 64)), np.uint8)
    return bytearray(pack(model))


MUTATIONS = (flip_bits, set_bytes, overwrite_word, truncate, splice, structural, structural)


def mutate(seed: bytes, rng: random.Random, seeds) -> bytes:
    """One to three mutations of `seed` (a structural one must come first: it needs a readable model)."""
    data = bytearray(seed)
    for step in range(rng.randint(1, 3)):
        mutation = rng.choice(MUTATIONS)
        if mutation is structural and step > 0:
            mutation = overwrite_word
        try:
            data = mutation(data, rng, seeds)
        except Exception:  # noqa: BLE001 - a structural change the object API cannot pack: change bytes instead
            data = overwrite_word(data, rng, seeds)
        if len(data) < 8:
            break
    return bytes(data)


# --- targets (run in the worker) ------------------------------------------------------------------------


def target_edgetpu(path: str, data: bytes) -> None:
    from keras_resnet.lite import edgetpu, flatbuffer

    edgetpu.preflight(flatbuffer.read_file(path))


def target_micro(path: str, data: bytes) -> None:
    from keras_resnet.lite import micro

    with tempfile.TemporaryDirectory() as out:
        micro.export(data, out, "fuzz")


def target_bench(path: str, data: bytes) -> None:
    from keras_resnet.device import harness

    settings = harness.Settings(warmup=0, runs=2)
    variant = harness.load_variant(path, harness.read_model(path), 1, settings)
    harness.measure([variant], settings, time.perf_counter_ns)


def target_eval(path: str, data: bytes) -> None:
    import numpy as np

    from keras_resnet import sources
    from keras_resnet.export import convert
    from keras_resnet.lite.runtime import TFLiteModel
    from keras_resnet.lite.safety import check_tflite

    model = TFLiteModel(check_tflite(path))  # what `resnet-tflite eval` does, on two blank images
    size, channels = model.image_input(path)
    images = sources.Images(np.zeros((2, *size, channels), np.uint8), np.array([0, 1]), ["a", "b"])
    convert.evaluate_tflite(model, images)


def target_metadata(path: str, data: bytes) -> None:
    from keras_resnet.lite import metadata

    metadata.read(data)


TARGETS = {
    "edgetpu": target_edgetpu,
    "micro": target_micro,
    "bench": target_bench,
    "eval": target_eval,
    "metadata": target_metadata,
}


def run_targets(data: bytes, directory: str, targets) -> dict:
    """{target: "ok" | "refused" | traceback text}: each of `targets` on one input."""
    from keras_resnet.errors import UserError

    path = os.path.join(directory, "case.tflite")
    with open(path, "wb") as f:
        f.write(data)
    outcome = {}
    for name in targets:
        target = TARGETS[name]
        try:
            target(path, data)
            outcome[name] = "ok"
        except UserError:
            outcome[name] = "refused"
        except Exception:  # noqa: BLE001 - anything else is what the fuzzer looks for
            outcome[name] = traceback.format_exc(limit=-4)
    return outcome


def worker(targets) -> None:
    """Read cases (4-byte length + bytes) from stdin, answer one JSON line each on stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    stdin, stdout = sys.stdin.buffer, sys.stdout
    with tempfile.TemporaryDirectory() as directory:
        while header := stdin.read(4):
            data = stdin.read(struct.unpack("<I", header)[0])
            stdout.write(json.dumps(run_targets(data, directory, targets)) + "\n")
            stdout.flush()


# --- the driver -----------------------------------------------------------------------------------------


class Worker:
    """The worker process: send a case, wait for its answer; a death or a hang is reported, not raised."""

    def __init__(self, targets=tuple(TARGETS)):
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
        self.log = tempfile.TemporaryFile()
        command = [sys.executable, __file__, "--worker", "--targets", ",".join(targets)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, cwd=ROOT
        )

    def run(self, data: bytes, timeout: float) -> tuple[str, dict | str]:
        """("done", outcome), ("died", how) or ("hung", how)."""
        try:
            self.process.stdin.write(struct.pack("<I", len(data)) + data)
            self.process.stdin.flush()
        except BrokenPipeError:
            return "died", self._death()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            return "hung", f"no answer within {timeout:g} s"
        line = self.process.stdout.readline()
        if not line:
            return "died", self._death()
        return "done", json.loads(line)

    def _death(self) -> str:
        code = self.process.wait()
        self.log.seek(0)
        tail = self.log.read().decode(errors="replace").strip().splitlines()[-3:]
        return f"worker exited with {code} ({'signal ' + str(-code) if code < 0 else 'code'}): {' | '.join(tail)}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.close()


def crashes(status: str, result) -> dict[str, str]:
    """{target or kind: detail} of everything in one answer that is not "ok" or "refused"."""
    if status != "done":
        return {"abort" if status == "died" else "hang": result}
    return {name: text for name, text in result.items() if text not in ("ok", "refused")}


def attribute(data: bytes, kind: str) -> dict[str, str]:
    """Which targets abort or hang on `data`: each runs alone in a fresh worker ({"micro-abort": how})."""
    found = {}
    for name in TARGETS:
        single = Worker((name,))
        status, result = single.run(data, CASE_TIMEOUT_S)
        single.close()
        if status != "done":
            found[f"{name}-{kind}"] = result
    return found or {kind: "only when the targets run one after another"}


def signature(kind: str, detail: str) -> str:
    """What makes two crashes the same bug: the target, the exception type and the innermost frame."""
    lines = detail.strip().splitlines()
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    return f"{kind} {lines[-1].split(':')[0] if lines else ''} {frames[-1] if frames else ''}"


def save(data: bytes, kind: str, out: pathlib.Path) -> pathlib.Path:
    from keras_resnet.files import write_bytes

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{kind}-{hashlib.sha1(data).hexdigest()[:12]}.tflite"
    write_bytes(path, data)
    return path


def fuzz(seconds: float, seed: int, out: pathlib.Path, seeds_dir: pathlib.Path) -> int:
    """Mutate and run cases for `seconds`; the number of crashing inputs found (each saved in `out`)."""
    seeds = load_seeds(seeds_dir)
    rng = random.Random(seed)
    worker, seen, cases, outcomes = Worker(), set(), 0, {}
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            data = mutate(rng.choice(seeds), rng, seeds)
            status, result = worker.run(data, CASE_TIMEOUT_S)
            cases += 1
            if status == "done":
                for value in result.values():
                    outcomes[value if value in ("ok", "refused") else "crash"] = (
                        outcomes.get(value if value in ("ok", "refused") else "crash", 0) + 1
                    )
            else:
                worker.close()
                worker = Worker()
            found = crashes(status, result)
            if status != "done":
                found = attribute(data, next(iter(found)))
            for kind, detail in found.items():
                key = signature(kind, detail)
                if key in seen:
                    continue
                seen.add(key)
                path = save(data, kind, out)
                print(f"CRASH {kind}: saved {path}\n  {detail.strip().splitlines()[-1]}", flush=True)
    finally:
        worker.close()
    elapsed = time.monotonic() - start
    print(
        f"{cases} cases in {elapsed:.0f} s ({cases / elapsed:.1f} cases/s), seed {seed}; target outcomes "
        f"{json.dumps(outcomes, sort_keys=True)}; {len(seen)} distinct crash(es)"
    )
    return len(seen)


def replay(paths: list[pathlib.Path]) -> int:
    """Run every saved input again; the number that still crash."""
    files = [f for p in paths for f in (sorted(p.glob("*.tflite")) if p.is_dir() else [p])]
    failing = 0
    worker = Worker()
    try:
        for path in files:
            status, result = worker.run(path.read_bytes(), CASE_TIMEOUT_S)
            problems = crashes(status, result)
            if status != "done":
                worker.close()
                worker = Worker()
            failing += bool(problems)
            verdict = "; ".join(f"{k}: {v.strip().splitlines()[-1]}" for k, v in problems.items()) or "ok"
            print(f"{path.name}: {verdict}", flush=True)
    finally:
        worker.close()
    print(f"{len(files)} input(s) replayed, {failing} still crash")
    return failing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the mutations")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="where crashing inputs are saved")
    parser.add_argument("--seeds", type=pathlib.Path, default=SEEDS, help="seed models (made if empty)")
    parser.add_argument("--replay", type=pathlib.Path, nargs="+", help="saved inputs (files or folders) to re-run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--targets", default=",".join(TARGETS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.targets.split(","))
        return 0
    if args.replay:
        return 1 if replay(args.replay) else 0
    return 1 if fuzz(args.seconds, args.seed, args.out, args.seeds) else 0


if __name__ == "__main__":
    sys.exit(main())

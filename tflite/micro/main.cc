// Classify one image with a ResNet exported by `resnet-tflite micro`, on any board TFLite-Micro supports.
//
// The four generated files are for a model named resnet8 (`--name resnet8`); for another name, change
// the three includes and the namespace alias below. See README.md for the build.
#include <cstdio>

#include "resnet8_model_data.h"
#include "resnet8_model_settings.h"
#include "resnet8_op_resolver.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace model = resnet8;

namespace {
alignas(16) unsigned char tensor_arena[model::kTensorArenaSize];

// A stand-in for the camera: a mid-grey image, already quantized (pixel 128 with the input's parameters).
void FillInput(TfLiteTensor* input) {
  const int grey = static_cast<int>(128.0f / model::kInputScale) + model::kInputZeroPoint;
  for (int i = 0; i < model::kInputSize; ++i) input->data.int8[i] = static_cast<int8_t>(grey);
}
}  // namespace

int main() {
  const tflite::Model* tflite_model = tflite::GetModel(g_resnet8_model_data);
  if (tflite_model->version() != TFLITE_SCHEMA_VERSION) {
    std::printf("model schema %lu, runtime expects %d\n", static_cast<unsigned long>(tflite_model->version()),
                TFLITE_SCHEMA_VERSION);
    return 1;
  }
  static model::OpResolver resolver;
  if (model::RegisterOps(resolver) != kTfLiteOk) return 1;
  static tflite::MicroInterpreter interpreter(tflite_model, resolver, tensor_arena, model::kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    std::printf("arena of %d bytes is too small\n", model::kTensorArenaSize);
    return 1;
  }
  FillInput(interpreter.input(0));
  if (interpreter.Invoke() != kTfLiteOk) return 1;

  const TfLiteTensor* output = interpreter.output(0);
  int best = 0;
  for (int i = 1; i < model::kNumClasses; ++i) {
    if (output->data.int8[i] > output->data.int8[best]) best = i;
  }
  const float score = (output->data.int8[best] - model::kOutputZeroPoint) * model::kOutputScale;
  std::printf("class %d (%s), score %.3f; arena used %u of %d bytes\n", best, model::kClassNames[best], score,
              static_cast<unsigned>(interpreter.arena_used_bytes()), model::kTensorArenaSize);
  return 0;
}

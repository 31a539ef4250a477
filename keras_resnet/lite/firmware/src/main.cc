// Run an int8 model exported by `resnet-tflite micro` (or `firmware`) on a batch of images with TFLite-Micro.
//
// model.h names the model's generated files (the C array, its op resolver, its settings); platform.h is
// what the board provides. Each image is one input tensor, read from "images.bin"; for each, one line
// `FW_OUT <image> <output values...>` with the raw int8 (or uint8) outputs, then the memory it took:
//   FW_ARENA_USED <bytes> of <bytes>     interpreter.arena_used_bytes() and kTensorArenaSize
//   FW_STACK_USED <bytes> of <bytes>     the deepest the stack went (-1: not measured)
//   FW_HEAP_USED <bytes> of <bytes>
//   FW_DONE <exit code>
// Exit codes: 0 ran, 2 the arena is too small, 3 no images file, 4 Invoke failed, 5 no image in the file,
// 6 the model does not load, 7 the stack overflowed (every byte of it was written).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "platform.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#ifndef IMAGES_FILE
#define IMAGES_FILE "images.bin"
#endif

namespace {

alignas(16) uint8_t tensor_arena[model::kTensorArenaSize];

// Decimal text without printf, whose formatting code would cost kilobytes of flash.
char* Decimal(char* out, long value) {
  char digits[20];
  int count = 0;
  unsigned long rest = value < 0 ? 0ul - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
  do {
    digits[count++] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  } while (rest != 0);
  if (value < 0) *out++ = '-';
  while (count > 0) *out++ = digits[--count];
  return out;
}

void Report(const char* key, long value, long of) {
  char line[64];
  char* out = line;
  for (const char* k = key; *k != '\0'; ++k) *out++ = *k;
  *out++ = ' ';
  out = Decimal(out, value);
  memcpy(out, " of ", 4);
  out = Decimal(out + 4, of);
  *out++ = '\n';
  *out = '\0';
  platform_write(line);
}

int Done(int code) {
  Report("FW_DONE", code, 0);
  return code;
}

// One line of outputs, written in pieces so the buffer stays small whatever the number of classes.
void WriteOutputs(int image, const TfLiteTensor* output) {
  char line[96];
  memcpy(line, "FW_OUT ", 7);
  char* out = Decimal(line + 7, image);
  const int count = static_cast<int>(output->bytes);
  for (int i = 0; i < count; ++i) {
    if (out - line > static_cast<ptrdiff_t>(sizeof(line)) - 8) {
      *out = '\0';
      platform_write(line);
      out = line;
    }
    *out++ = ' ';
    out = Decimal(out, output->type == kTfLiteUInt8 ? output->data.uint8[i] : output->data.int8[i]);
  }
  *out++ = '\n';
  *out = '\0';
  platform_write(line);
}

}  // namespace

int main() {
  const tflite::Model* tflite_model = tflite::GetModel(MODEL_DATA);
  if (tflite_model->version() != TFLITE_SCHEMA_VERSION) return Done(6);
  static model::OpResolver resolver;
  if (model::RegisterOps(resolver) != kTfLiteOk) return Done(6);
  static tflite::MicroInterpreter interpreter(tflite_model, resolver, tensor_arena, model::kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    platform_write("FW_ERROR the tensor arena is too small for the model (AllocateTensors failed)\n");
    Report("FW_ARENA_SIZE", model::kTensorArenaSize, model::kTensorArenaSize);
    return Done(2);
  }
  TfLiteTensor* input = interpreter.input(0);
  const int input_bytes = static_cast<int>(input->bytes);
  const int images = platform_open(IMAGES_FILE);
  if (images < 0) {
    platform_write("FW_ERROR cannot open " IMAGES_FILE "\n");
    return Done(3);
  }
  int count = 0;
  while (platform_read(images, input->data.raw, input_bytes) == input_bytes) {
    if (interpreter.Invoke() != kTfLiteOk) {
      platform_write("FW_ERROR Invoke failed\n");
      return Done(4);
    }
    WriteOutputs(count++, interpreter.output(0));
  }
  platform_close(images);
  Report("FW_ARENA_USED", static_cast<long>(interpreter.arena_used_bytes()), model::kTensorArenaSize);
  Report("FW_STACK_USED", platform_stack_used(), platform_stack_size());
  Report("FW_HEAP_USED", platform_heap_used(), platform_heap_size());
  if (platform_stack_size() > 0 && platform_stack_used() >= platform_stack_size()) {
    // Every byte of the stack was written: it overflowed (a v7-M core has no stack limit to fault on).
    platform_write("FW_ERROR the stack overflowed\n");
    return Done(7);
  }
  return Done(count > 0 ? 0 : 5);
}

// Run a model exported by `resnet-tflite micro` (or `firmware`) on a batch of images with TFLite-Micro: an
// int8 model, or a float32 one on a core with an FPU.
//
// model.h names the model's generated files (the C array, its op resolver, its settings); platform.h is
// what the board provides. Each image is one input tensor, read from "images.bin"; for each, one line
// `FW_OUT <image> <output values...>` with the raw int8 (or uint8) outputs, or for a float32 output
// `FW_OUT_F32 <image> <bits...>` with each float's 32 bits in hex (exact, without printf's float code),
// then the memory it took:
//   FW_ARENA_USED <bytes> of <bytes>     interpreter.arena_used_bytes() and kTensorArenaSize
//   FW_STACK_USED <bytes> of <bytes>     the deepest the stack went (-1: not measured)
//   FW_HEAP_USED <bytes> of <bytes>
//   FW_DONE <exit code>
// Where the platform counts instructions (platform_instructions()), also:
//   FW_INSTR <image> <instructions>      those of the image's Invoke(), what counting costs subtracted (the
//                                        readings around it, and an empty event's cost for each operator)
//   FW_OP <index> <instructions>         those of each operator of the first image (TFLite-Micro's profiler
//                                        events: a MicroProfilerInterface given to the interpreter)
//   FW_INSTR_TOTAL <instructions>        all the program executed, start-up to the end of the last image
//   FW_ERROR the instruction count ...   the counter went beyond its range: no count from then on
// Exit codes: 0 ran, 2 the arena is too small, 3 no images file, 4 Invoke failed, 5 no image in the file,
// 6 the model does not load, 7 the stack overflowed (every byte of it was written).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "platform.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"

#ifndef IMAGES_FILE
#define IMAGES_FILE "images.bin"
#endif

namespace {

alignas(16) uint8_t tensor_arena[model::kTensorArenaSize];

// Decimal text without printf, whose formatting code would cost kilobytes of flash.
char* Decimal(char* out, long long value) {
  char digits[20];
  int count = 0;
  unsigned long long rest =
      value < 0 ? 0ull - static_cast<unsigned long long>(value) : static_cast<unsigned long long>(value);
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

// A key and one or two numbers: `FW_OP 3 120456`, `FW_INSTR_TOTAL 9876543`.
void Report2(const char* key, long long first, long long second, bool two = true) {
  char line[64];
  char* out = line;
  for (const char* k = key; *k != '\0'; ++k) *out++ = *k;
  *out++ = ' ';
  out = Decimal(out, first);
  if (two) {
    *out++ = ' ';
    out = Decimal(out, second);
  }
  *out++ = '\n';
  *out = '\0';
  platform_write(line);
}

int Done(int code) {
  Report("FW_DONE", code, 0);
  return code;
}

// A float's 32 bits as eight hex digits: the exact value, where printing it in decimal would round it.
char* Hex(char* out, float value) {
  static const char digits[] = "0123456789abcdef";
  uint32_t bits;
  memcpy(&bits, &value, sizeof(bits));
  for (int shift = 28; shift >= 0; shift -= 4) *out++ = digits[(bits >> shift) & 15u];
  return out;
}

// One line of outputs, written in pieces so the buffer stays small whatever the number of classes.
void WriteOutputs(int image, const TfLiteTensor* output) {
  const bool floats = output->type == kTfLiteFloat32;
  char line[96];
  char* out = line;
  for (const char* k = floats ? "FW_OUT_F32 " : "FW_OUT "; *k != '\0'; ++k) *out++ = *k;
  out = Decimal(out, image);
  const int count = static_cast<int>(output->bytes / (floats ? sizeof(float) : 1));
  for (int i = 0; i < count; ++i) {
    if (out - line > static_cast<ptrdiff_t>(sizeof(line)) - 12) {  // room for a value, a newline and the end
      *out = '\0';
      platform_write(line);
      out = line;
    }
    *out++ = ' ';
    if (floats) {
      out = Hex(out, output->data.f[i]);
    } else {
      out = Decimal(out, output->type == kTfLiteUInt8 ? output->data.uint8[i] : output->data.int8[i]);
    }
  }
  *out++ = '\n';
  *out = '\0';
  platform_write(line);
}

// Instructions between two readings of the counter, less what reading it costs; -1 when there is no count.
// Once the counter went beyond its range (PLATFORM_BEYOND_COUNTER) nothing is counted any more, and said once.
bool counting = true;
int64_t Interval(int64_t begin, int64_t end, int64_t cost) {
  if (!counting) return -1;
  if (begin < 0 || end < 0) {
    if (begin == PLATFORM_BEYOND_COUNTER || end == PLATFORM_BEYOND_COUNTER) {
      platform_write(
          "FW_ERROR the instruction count went beyond the range of the board's counter (over half its period "
          "between two readings): no count is reported from here on\n");
    }
    counting = false;
    return -1;
  }
  return end - begin - cost;
}

// TFLite-Micro's profiling interface: the interpreter calls BeginEvent and EndEvent around every operator's
// Invoke. Each event's instructions are kept for one inference (`Record`), the cost of an empty event (the
// calls and the two counter readings, measured by Calibrate) subtracted.
class OperatorCounter : public tflite::MicroProfilerInterface {
 public:
  static constexpr int kMaxOperators = 256;
  enum Mode { kIdle, kCalibrate, kRecord };

  uint32_t BeginEvent(const char* tag) override {
    (void)tag;
    begin_ = platform_instructions();
    return 0;
  }

  void EndEvent(uint32_t handle) override {
    const int64_t end = platform_instructions();
    (void)handle;
    ++events_;
    if (mode_ == kIdle) return;
    if (begin_ < 0 || end < 0) {
      failed_ = begin_ < 0 ? begin_ : end;
    } else if (mode_ == kCalibrate) {
      empty_ = end - begin_;
    } else if (operators_ < kMaxOperators) {
      counts_[operators_++] = static_cast<int32_t>(end - begin_);  // under half the counter's period
    }
  }

  // The cost of an event with nothing in it, called through the interface as the interpreter calls it.
  void Calibrate() {
    mode_ = kCalibrate;
    tflite::MicroProfilerInterface* volatile self = this;
    self->EndEvent(self->BeginEvent(nullptr));
    mode_ = kIdle;
  }

  void Record(bool on) {
    mode_ = on ? kRecord : kIdle;
    if (on) operators_ = 0;
    events_ = 0;
  }

  // What the events of the last inference cost (each as much as an empty one): no part of the model's count.
  int64_t EventsCost() const { return events_ * empty_; }

  void Write() const {
    if (failed_ != 0) {
      Interval(failed_, failed_, 0);  // says why, and stops counting
      return;
    }
    for (int i = 0; i < operators_ && counting; ++i) Report2("FW_OP", i, counts_[i] - empty_);
  }

 private:
  int64_t begin_ = 0;
  int64_t empty_ = 0;
  int64_t failed_ = 0;
  int32_t counts_[kMaxOperators];
  int operators_ = 0;
  int events_ = 0;
  Mode mode_ = kIdle;
};

}  // namespace

int main() {
  static OperatorCounter profiler;
  const tflite::Model* tflite_model = tflite::GetModel(MODEL_DATA);
  if (tflite_model->version() != TFLITE_SCHEMA_VERSION) return Done(6);
  static model::OpResolver resolver;
  if (model::RegisterOps(resolver) != kTfLiteOk) return Done(6);
  static tflite::MicroInterpreter interpreter(tflite_model, resolver, tensor_arena, model::kTensorArenaSize,
                                                 nullptr, &profiler);
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
  // What counting costs: two readings back to back (the same code as around Invoke), an empty event.
  volatile int64_t first = platform_instructions();
  const int64_t reading_cost = platform_instructions() - first;
  profiler.Calibrate();
  counting = first >= 0;
  int count = 0;
  while (platform_read(images, input->data.raw, input_bytes) == input_bytes) {
    profiler.Record(count == 0);
    const int64_t begin = platform_instructions();
    const TfLiteStatus status = interpreter.Invoke();
    const int64_t end = platform_instructions();
    const int64_t events_cost = profiler.EventsCost();
    profiler.Record(false);
    if (status != kTfLiteOk) {
      platform_write("FW_ERROR Invoke failed\n");
      return Done(4);
    }
    WriteOutputs(count, interpreter.output(0));
    const int64_t instructions = Interval(begin, end, reading_cost + events_cost);
    if (instructions >= 0) Report2("FW_INSTR", count, instructions);
    if (count == 0) profiler.Write();
    ++count;
  }
  platform_close(images);
  const int64_t total = Interval(0, platform_instructions(), 0);
  if (total >= 0) Report2("FW_INSTR_TOTAL", total, 0, false);
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

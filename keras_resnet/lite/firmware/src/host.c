/* The rest of platform.h for a workstation build (`resnet-tflite firmware --target host`): the stack and heap
 * are not measured there, nor the instructions. */
#include "platform.h"

long platform_stack_used(void) { return -1; }
long platform_stack_size(void) { return -1; }
long platform_heap_used(void) { return -1; }
long platform_heap_size(void) { return -1; }
int64_t platform_instructions(void) { return -1; }

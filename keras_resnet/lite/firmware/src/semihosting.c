/* platform.h's text out, inputs in and exit through Arm semihosting calls to QEMU, with no C library stdio
 * (kilobytes of flash and a heap less than newlib's: tools/firmware_sizes.py measures it). */
#include <stdint.h>
#include <string.h>

#include "platform.h"

/* Arm semihosting: the calls a program makes to the debugger (here QEMU) for its host's console and files. */
enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE = 0x05, SYS_READ = 0x06, SYS_EXIT_EXTENDED = 0x20 };
#define APPLICATION_EXIT 0x20026 /* ADP_Stopped_ApplicationExit */

static int semihost(int operation, void* argument) {
  register int r0 __asm__("r0") = operation;
  register void* r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* QEMU exits with `code`. */
void platform_exit(int code) {
  uint32_t block[2] = {APPLICATION_EXIT, (uint32_t)code};
  semihost(SYS_EXIT_EXTENDED, block);
  for (;;) {
  }
}

static int console = -1;

void platform_write(const char* text) {
  if (console < 0) {
    uint32_t open_args[3] = {(uint32_t)":tt", 4 /* "w": QEMU's stdout */, 3};
    console = semihost(SYS_OPEN, open_args);
  }
  uint32_t args[3] = {(uint32_t)console, (uint32_t)text, (uint32_t)strlen(text)};
  semihost(SYS_WRITE, args);
}

int platform_open(const char* path) {
  uint32_t args[3] = {(uint32_t)path, 1 /* "rb" */, (uint32_t)strlen(path)};
  return semihost(SYS_OPEN, args); /* relative to the directory QEMU runs in */
}

int platform_read(int handle, void* buffer, int bytes) {
  uint32_t args[3] = {(uint32_t)handle, (uint32_t)buffer, (uint32_t)bytes};
  return bytes - semihost(SYS_READ, args); /* SYS_READ answers with the bytes it did NOT read */
}

void platform_close(int handle) {
  uint32_t args[1] = {(uint32_t)handle};
  semihost(SYS_CLOSE, args);
}

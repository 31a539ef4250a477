/* platform.h's text out and images in through Arm semihosting calls to QEMU, with no C library stdio (kilobytes
 * of flash and a heap less than newlib's: tools/firmware_sizes.py measures it), and the exit newlib's exit()
 * ends in. */
#include <stdint.h>
#include <string.h>

#include "platform.h"
#include "semihost.h"

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

/* newlib's exit() ends here; abort() and the rest of newlib's system calls are never reached. */
void _exit(int code) { semihost_exit(code); }
int _kill(int pid, int signal) {
  (void)pid;
  (void)signal;
  semihost_exit(134);
}
int _getpid(void) { return 1; }

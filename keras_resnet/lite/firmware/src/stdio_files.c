/* platform.h's text out and images in, with the C library's stdio: the host's own files on a workstation,
 * the host's files through semihosting under QEMU (newlib's librdimon), a UART where a board retargets it. */
#include <stdio.h>
#include <stdlib.h>

#include "platform.h"

void platform_write(const char* text) { fputs(text, stdout); }

static FILE* files[4];

int platform_open(const char* path) {
  for (int i = 0; i < 4; ++i) {
    if (files[i] == NULL) {
      files[i] = fopen(path, "rb"); /* relative to the working directory (QEMU's, through semihosting) */
      return files[i] != NULL ? i : -1;
    }
  }
  return -1;
}

int platform_read(int handle, void* buffer, int bytes) { return (int)fread(buffer, 1, (size_t)bytes, files[handle]); }

void platform_close(int handle) {
  fclose(files[handle]);
  files[handle] = NULL;
}

void platform_exit(int code) { exit(code); }

/* Host-side check that a generated model array holds exactly the bytes of its .tflite file.
 *
 * Build with the system compiler against the files `resnet-tflite micro` wrote (NAME = the --name):
 *   cc -c -I OUT OUT/NAME_model_data.cc -o model_data.o        # the array, compiled as C++ (.cc)
 *   cc -std=c11 -I OUT -DMODEL_HEADER='"NAME_model_data.h"' -DMODEL_DATA=g_NAME_model_data \
 *      -DMODEL_LEN=g_NAME_model_data_len tflite/micro/roundtrip_test.c model_data.o -o roundtrip
 *   ./roundtrip MODEL.tflite      # exit 0 and "ok" when equal; exit 1 with the first difference if not
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include MODEL_HEADER

static long file_size(FILE* f) {
  if (fseek(f, 0, SEEK_END) != 0) return -1;
  long size = ftell(f);
  rewind(f);
  return size;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.tflite\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (f == NULL) {
    perror(argv[1]);
    return 2;
  }
  long size = file_size(f);
  unsigned char* expected = malloc(size > 0 ? (size_t)size : 1);
  if (expected == NULL || size < 0 || fread(expected, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "could not read %s\n", argv[1]);
    return 2;
  }
  fclose(f);
  if ((uintptr_t)MODEL_DATA % 16 != 0) {
    fprintf(stderr, "array is not 16-byte aligned\n");
    return 1;
  }
  if ((long)MODEL_LEN != size) {
    fprintf(stderr, "length %u differs from the file's %ld bytes\n", MODEL_LEN, size);
    return 1;
  }
  for (long i = 0; i < size; ++i) {
    if (MODEL_DATA[i] != expected[i]) {
      fprintf(stderr, "byte %ld differs: array 0x%02x, file 0x%02x\n", i, MODEL_DATA[i], expected[i]);
      return 1;
    }
  }
  free(expected);
  printf("ok: %ld bytes equal\n", size);
  return 0;
}

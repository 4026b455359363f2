/* See types.h: the bpf target has 64-bit longs. */
#define __BITS_PER_LONG 64
#include <asm-generic/bitsperlong.h>

/* See types.h; posture builds little-endian objects only (bpfel). */
#include <linux/byteorder/little_endian.h>

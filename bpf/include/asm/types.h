/* Architecture-neutral stand-in for <asm/types.h>: BPF objects are built
 * for the bpf target, so the generic integer definitions are the right ones
 * and the build does not depend on the host's multiarch include path. */
#include <asm-generic/types.h>

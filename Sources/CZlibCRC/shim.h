// zlib (Debian: zlib1g-dev): its crc32, to check torch.save archive entries at memory speed.
#include <zlib.h>

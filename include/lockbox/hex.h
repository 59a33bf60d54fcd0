/* liblockbox: lowercase hexadecimal, the one spelling of keys, hashes and signatures. */
#ifndef LOCKBOX_HEX_H
#define LOCKBOX_HEX_H

#include <stddef.h>

/* The N bytes at B as 2*N lowercase hex digits and a NUL into OUT (2*N+1 bytes). */
void lb_hex_encode(const void *b, size_t n, char *out);
/* The SLEN hex digits at S (lowercase only: what lb_hex_encode writes) as SLEN/2 bytes into
 * OUT, which holds N; -1 unless SLEN == 2*N and every digit is one. */
int lb_hex_decode(const char *s, size_t slen, unsigned char *out, size_t n);

#endif

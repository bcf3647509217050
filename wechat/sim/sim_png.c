/*
 * sim_png.c: the image getwxacodeunlimit answers with. A minimal PNG
 * encoder (IHDR, one IDAT holding a zlib stream of stored, uncompressed
 * deflate blocks with its Adler-32, IEND, every chunk with its CRC-32) and
 * a QR-code-like picture drawn from a seed: three finder squares, timing
 * lines and modules taken from SHA-256 of the seed. It looks like a code
 * and differs per scene, but no scanner will read it.
 *
 * Images are 1-bit grayscale: a 1280x1280 code is then ~200 KB, as
 * WeChat's are, and stays under the client's 1 MB reply limit.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sim.h"

#define MODULES 29               /* a version-3 QR code */
#define QUIET 4                  /* modules of white border */
#define STORED_MAX 65535         /* bytes in one stored deflate block */

static uint32_t crc_table[256];
static int crc_ready;

static uint32_t
crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	if (!crc_ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
		crc_ready = 1;
	}
	crc = ~crc;
	while (n-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
adler32(const unsigned char *p, size_t n)
{
	uint32_t a = 1, b = 0;

	while (n > 0) {
		size_t chunk = n < 5552 ? n : 5552;   /* no overflow before % */

		n -= chunk;
		while (chunk-- > 0) {
			a += *p++;
			b += a;
		}
		a %= 65521;
		b %= 65521;
	}
	return (b << 16) | a;
}

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

/* Writes chunk type with data (n bytes) and its CRC at p; returns the end. */
static unsigned char *
put_chunk(unsigned char *p, const char *type, const unsigned char *data,
    size_t n)
{
	unsigned char *start;

	p = put32(p, (uint32_t)n);
	start = p;
	memcpy(p, type, 4);
	p += 4;
	if (n > 0)
		memcpy(p, data, n);
	p += n;
	return put32(p, crc32_update(0, start, n + 4));
}

/*
 * Encodes a 1-bit grayscale image (bits: height rows of (width + 7) / 8
 * bytes, most significant bit leftmost, 1 = white) as a PNG. Returns 0
 * with *out (malloc'd, caller frees) and *len, or -1 for a size out of
 * range (1..4096 either way).
 */
int
sim_png_gray1(const unsigned char *bits, unsigned width, unsigned height,
    unsigned char **out, size_t *len)
{
	static const unsigned char sig[8] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
	};
	size_t row, raw_len, nblocks, z_len, total;
	unsigned char ihdr[13], *raw, *z, *zp, *png, *p;

	*out = NULL;
	*len = 0;
	if (width == 0 || height == 0 || width > 4096 || height > 4096)
		return -1;
	row = (width + 7) / 8;
	raw_len = (size_t)height * (row + 1);
	raw = sim_malloc(raw_len);
	for (size_t y = 0; y < height; y++) {
		raw[y * (row + 1)] = 0;              /* filter: none */
		memcpy(raw + y * (row + 1) + 1, bits + y * row, row);
	}

	/* zlib: CMF/FLG, stored blocks (1 + 2 + 2 header bytes), Adler-32 */
	nblocks = (raw_len + STORED_MAX - 1) / STORED_MAX;
	z_len = 2 + raw_len + 5 * nblocks + 4;
	z = sim_malloc(z_len);
	zp = z;
	*zp++ = 0x78;                /* deflate, 32K window */
	*zp++ = 0x01;                /* no dictionary, (0x7801 % 31 == 0) */
	for (size_t off = 0; off < raw_len; off += STORED_MAX) {
		size_t n = raw_len - off < STORED_MAX ? raw_len - off :
		    STORED_MAX;

		*zp++ = off + n == raw_len ? 1 : 0;  /* BFINAL, BTYPE 00 */
		*zp++ = (unsigned char)(n & 0xff);
		*zp++ = (unsigned char)(n >> 8);
		*zp++ = (unsigned char)(~n & 0xff);
		*zp++ = (unsigned char)((~n >> 8) & 0xff);
		memcpy(zp, raw + off, n);
		zp += n;
	}
	zp = put32(zp, adler32(raw, raw_len));

	put32(ihdr, width);
	put32(ihdr + 4, height);
	ihdr[8] = 1;                 /* bit depth */
	ihdr[9] = 0;                 /* grayscale */
	ihdr[10] = 0;                /* deflate */
	ihdr[11] = 0;                /* adaptive filtering */
	ihdr[12] = 0;                /* no interlace */

	total = sizeof(sig) + (12 + sizeof(ihdr)) + (12 + z_len) + 12;
	png = sim_malloc(total);
	memcpy(png, sig, sizeof(sig));
	p = png + sizeof(sig);
	p = put_chunk(p, "IHDR", ihdr, sizeof(ihdr));
	p = put_chunk(p, "IDAT", z, z_len);
	p = put_chunk(p, "IEND", NULL, 0);
	free(z);
	free(raw);
	*out = png;
	*len = (size_t)(p - png);
	return 0;
}

/* Draws a 7x7 finder square with its top-left module at (x, y). */
static void
finder(unsigned char m[MODULES][MODULES], int x, int y)
{
	for (int i = -1; i <= 7; i++) {
		for (int j = -1; j <= 7; j++) {
			int dark, xi = x + j, yi = y + i;

			if (xi < 0 || yi < 0 || xi >= MODULES || yi >= MODULES)
				continue;
			dark = i >= 0 && i <= 6 && j >= 0 && j <= 6 &&
			    (i == 0 || i == 6 || j == 0 || j == 6 ||
			    (i >= 2 && i <= 4 && j >= 2 && j <= 4));
			/* 1: dark, 2: light (0: not drawn yet) */
			m[yi][xi] = (unsigned char)(dark ? 1 : 2);
		}
	}
}

/*
 * A width x width PNG of a QR-like code whose modules depend on seed.
 * Returns 0 with *out (malloc'd, caller frees) and *len, or -1.
 */
int
sim_png_qrcode(const char *seed, unsigned width, unsigned char **out,
    size_t *len)
{
	unsigned char m[MODULES][MODULES];
	unsigned char hash[32], *bits;
	unsigned scale, margin, row, side = MODULES + 2 * QUIET;
	unsigned bit = 256;
	uint32_t counter = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if (width < side || width > 4096)
		return -1;
	memset(m, 0, sizeof(m));
	finder(m, 0, 0);
	finder(m, MODULES - 7, 0);
	finder(m, 0, MODULES - 7);
	for (int i = 8; i < MODULES - 8; i++) {
		m[6][i] = (unsigned char)(i % 2 ? 2 : 1);
		m[i][6] = m[6][i];
	}
	for (int y = 0; y < MODULES; y++) {
		for (int x = 0; x < MODULES; x++) {
			if (m[y][x] != 0)
				continue;
			if (bit == 256) {
				EVP_MD_CTX *ctx = EVP_MD_CTX_new();
				unsigned char cnt[4];

				put32(cnt, counter++);
				if (ctx == NULL ||
				    EVP_DigestInit_ex(ctx, EVP_sha256(),
				    NULL) != 1 ||
				    EVP_DigestUpdate(ctx, seed,
				    strlen(seed)) != 1 ||
				    EVP_DigestUpdate(ctx, cnt, 4) != 1 ||
				    EVP_DigestFinal_ex(ctx, hash, NULL) != 1) {
					EVP_MD_CTX_free(ctx);
					return -1;
				}
				EVP_MD_CTX_free(ctx);
				bit = 0;
			}
			m[y][x] = (unsigned char)((hash[bit / 8] >>
			    (bit % 8)) & 1 ? 1 : 2);
			bit++;
		}
	}

	scale = width / side;
	margin = (width - scale * MODULES) / 2;
	row = (width + 7) / 8;
	bits = sim_malloc((size_t)row * width);
	memset(bits, 0xff, (size_t)row * width);        /* all white */
	for (unsigned y = 0; y < scale * MODULES; y++) {
		for (unsigned x = 0; x < scale * MODULES; x++) {
			unsigned px = margin + x, py = margin + y;

			if (m[y / scale][x / scale] == 1)
				bits[(size_t)py * row + px / 8] &=
				    (unsigned char)~(0x80u >> (px % 8));
		}
	}
	rc = sim_png_gray1(bits, width, width, out, len);
	free(bits);
	return rc;
}

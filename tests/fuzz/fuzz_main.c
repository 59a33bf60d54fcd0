/* Drives fuzz_parsers.c without libFuzzer: every seed in the corpus directory, then a
 * bounded number of seeded random mutations of them (deterministic, so a failure repeats). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 256
#define MAX_LEN 4096

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	static const char *const dict[] = {"=", "\n", "#", "\"", "{", "}", "[", "]", ":", ",",
					"\\u0000", "\\", "%n", "\x1b", "\xff", "\xc3\xa9", "Z", "T",
					"90s", "8h", "4d", "https://", "http://", "127.0.0.1", "[::1]",
					"2026-11-23T06:44:32.123Z", "true", "null", "1e999", "-"};
	unsigned char *seeds[MAX_SEEDS];
	size_t lens[MAX_SEEDS], nseeds = 0;
	long iterations = argc > 2 ? atol(argv[2]) : 20000;
	unsigned char buf[MAX_LEN];
	DIR *d = opendir(argc > 1 ? argv[1] : ".");
	struct dirent *e;

	while (d && (e = readdir(d)) && nseeds < MAX_SEEDS) {
		char path[1024];
		FILE *f;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		lens[nseeds] = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		seeds[nseeds] = malloc(lens[nseeds] + 1);
		memcpy(seeds[nseeds], buf, lens[nseeds]);
		LLVMFuzzerTestOneInput(seeds[nseeds], lens[nseeds]);
		nseeds++;
	}
	if (d)
		closedir(d);
	if (nseeds == 0) {
		fprintf(stderr, "fuzz: no seeds in %s\n", argc > 1 ? argv[1] : ".");
		return 1;
	}
	for (long i = 0; i < iterations; i++) {
		size_t k = next_rand() % nseeds, len = lens[k];
		int edits = 1 + (int)(next_rand() % 8);
		memcpy(buf, seeds[k], len);
		while (edits--) {
			size_t pos = len ? next_rand() % (len + 1) : 0;
			switch (next_rand() % 4) {
			case 0: /* flip a byte */
				if (len)
					buf[pos % len] = (unsigned char)next_rand();
				break;
			case 1: /* insert a token */
			{
				const char *t = dict[next_rand() % (sizeof(dict) / sizeof(dict[0]))];
				size_t tl = strlen(t);
				if (len + tl < sizeof(buf)) {
					memmove(buf + pos + tl, buf + pos, len - pos);
					memcpy(buf + pos, t, tl);
					len += tl;
				}
				break;
			}
			case 2: /* delete a run */
				if (len) {
					size_t n = 1 + next_rand() % 8;
					pos %= len;
					if (pos + n > len)
						n = len - pos;
					memmove(buf + pos, buf + pos + n, len - pos - n);
					len -= n;
				}
				break;
			default: /* truncate */
				len = pos;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz: %zu seeds, %ld mutations, no crash\n", nseeds, iterations);
	for (size_t i = 0; i < nseeds; i++)
		free(seeds[i]);
	return 0;
}

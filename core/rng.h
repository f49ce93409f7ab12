/*
 * rng.h — splitmix64 (Steele, Lea & Flood 2014), the engine's one portable
 * generator step: the same sequence on every machine and compiler. It seeds
 * the embedded model's weight generator and draws the noise init.
 */
#ifndef NST_RNG_H
#define NST_RNG_H

#include <stdint.h>

/* Advance *state and return the next 64 random bits. */
static inline uint64_t nst_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ z >> 30) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ z >> 27) * UINT64_C(0x94d049bb133111eb);
    return z ^ z >> 31;
}

#endif

//! Scanning bytes eight or sixteen at a time for what JSON strings escape:
//! what the reader and the writer share.

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Flags (high bits) marking bytes of `word` that need escaping: below 0x20,
/// `"` or `\\`. These are the classic "has a byte less than n" and "has a
/// zero byte" tests: a flag can be spurious only above a real one, so the
/// word has a flag exactly when one of its bytes needs escaping.
#[inline]
pub(super) fn escape_flags(word: u64) -> u64 {
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    below_space
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
}

/// Sixteen bytes at a time with SSE2, which every x86-64 CPU has.
#[cfg(target_arch = "x86_64")]
pub(super) mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// Two bit masks over the bytes of `chunk` (bit `n` for byte `n`): the
    /// bytes that end a plain run of string text (a quote, a backslash or a
    /// control character), and the bytes that are not ASCII.
    #[inline]
    pub(in crate::json) fn stops_and_highs(chunk: &[u8; 16]) -> (u32, u32) {
        // SAFETY: SSE2 is part of every x86-64 target, and the load reads
        // the sixteen bytes `chunk` refers to, unaligned.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned: max(b, 0x1F) == 0x1F exactly when b <= 0x1F.
            let limit = _mm_set1_epi8(0x1F);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            let stops = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control));
            // The sign bit of each byte is its high bit.
            let highs = _mm_movemask_epi8(v);
            (stops as u32, highs as u32)
        }
    }
}

//! Jute, ZooKeeper's binary record encoding.
//!
//! Everything is big-endian; strings and buffers are an `i32` length followed by
//! the bytes, with `-1` meaning *null* (which ZooKeeper keeps distinct from empty
//! for znode data); vectors are an `i32` count followed by the elements. Records
//! are their fields concatenated in declaration order with no tags.
//!
//! Decoding never panics: every read checks the remaining length and returns a
//! [`DecodeError`], because every byte here may come from an untrusted peer.

use std::fmt;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the record did.
    Truncated { wanted: usize, left: usize },
    /// A length or count was negative (other than the -1 null marker) or larger
    /// than the limit.
    BadLength(i64),
    /// A `ustring` was not valid UTF-8.
    BadUtf8,
    /// A value that must be one of a few codes was not.
    BadValue(&'static str, i64),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { wanted, left } => {
                write!(f, "record truncated: wanted {wanted} bytes, {left} left")
            }
            DecodeError::BadLength(n) => write!(f, "invalid length {n}"),
            DecodeError::BadUtf8 => write!(f, "string is not valid UTF-8"),
            DecodeError::BadValue(what, v) => write!(f, "invalid {what} {v}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub type Result<T> = std::result::Result<T, DecodeError>;

/// Largest string, buffer or vector a reader accepts by default: jute.maxbuffer
/// (0xfffff) plus the same again as "extrasize", as ZooKeeper's server allows.
pub const DEFAULT_MAX_FIELD: usize = 2 * 0xfffff;

/// A cursor over one received frame.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_field: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            max_field: DEFAULT_MAX_FIELD,
        }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread part of the input.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                wanted: n,
                left: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn read_i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn read_bool(&mut self) -> Result<bool> {
        Ok(self.read_u8()? != 0)
    }

    /// Reads a length prefix; `None` for the -1 null marker.
    fn read_len(&mut self) -> Result<Option<usize>> {
        let n = self.read_i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 || n as usize > self.max_field {
            return Err(DecodeError::BadLength(n as i64));
        }
        Ok(Some(n as usize))
    }

    /// A jute `buffer`: `None` is null (length -1).
    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>> {
        match self.read_len()? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A jute `ustring`; null reads as the empty string, which is how every
    /// ZooKeeper record that can carry a null string treats it. Invalid UTF-8
    /// becomes U+FFFD, as Java's decoder does (a path with one then fails
    /// validation instead of the whole request failing to decode).
    pub fn read_string(&mut self) -> Result<String> {
        match self.read_len()? {
            None => Ok(String::new()),
            Some(n) => {
                let b = self.take(n)?;
                Ok(match std::str::from_utf8(b) {
                    Ok(s) => s.to_string(),
                    Err(_) => String::from_utf8_lossy(b).into_owned(),
                })
            }
        }
    }

    /// A vector count; null reads as zero elements. The count is bounded by the
    /// bytes left (every element takes at least one byte) so a hostile count
    /// cannot make us allocate.
    pub fn read_count(&mut self) -> Result<usize> {
        match self.read_len()? {
            None => Ok(0),
            Some(n) if n > self.remaining() => Err(DecodeError::BadLength(n as i64)),
            Some(n) => Ok(n),
        }
    }
}

/// Builds an outgoing record.
#[derive(Default, Debug, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// A writer whose first four bytes are reserved for the frame length,
    /// filled in by [`Writer::finish_frame`].
    pub fn framed() -> Self {
        Writer {
            buf: vec![0, 0, 0, 0],
        }
    }

    /// Writes the payload length into the reserved prefix and returns the frame.
    pub fn finish_frame(mut self) -> Vec<u8> {
        let n = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&n.to_be_bytes());
        self.buf
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn write_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.write_i32(-1),
            Some(b) => {
                self.write_i32(b.len() as i32);
                self.buf.extend_from_slice(b);
            }
        }
    }

    pub fn write_string(&mut self, s: &str) {
        self.write_i32(s.len() as i32);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn write_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

/// A value with a jute encoding.
pub trait Jute: Sized {
    fn write(&self, w: &mut Writer);
    fn read(r: &mut Reader<'_>) -> Result<Self>;

    /// Encodes the value alone.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_inner()
    }

    /// Decodes a value from the start of `b` (trailing bytes are ignored, as
    /// ZooKeeper's archives ignore them).
    fn from_bytes(b: &[u8]) -> Result<Self> {
        Self::read(&mut Reader::new(b))
    }
}

impl Jute for i32 {
    fn write(&self, w: &mut Writer) {
        w.write_i32(*self)
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.read_i32()
    }
}

impl Jute for i64 {
    fn write(&self, w: &mut Writer) {
        w.write_i64(*self)
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.read_i64()
    }
}

impl Jute for bool {
    fn write(&self, w: &mut Writer) {
        w.write_bool(*self)
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.read_bool()
    }
}

impl Jute for String {
    fn write(&self, w: &mut Writer) {
        w.write_string(self)
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.read_string()
    }
}

/// `buffer`: `None` is the null buffer.
impl Jute for Option<Vec<u8>> {
    fn write(&self, w: &mut Writer) {
        w.write_buffer(self.as_deref())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.read_buffer()
    }
}

impl<T: Jute + VecElem> Jute for Vec<T> {
    fn write(&self, w: &mut Writer) {
        w.write_i32(self.len() as i32);
        for e in self {
            e.write(w);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let n = r.read_count()?;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(T::read(r)?);
        }
        Ok(v)
    }
}

/// Marker for types that may appear in a jute `vector` (keeps `Vec<u8>` from
/// being mistaken for a vector of bytes; byte strings are `buffer`s).
pub trait VecElem {}
impl VecElem for String {}
impl VecElem for i64 {}
impl VecElem for i32 {}

/// Declares a jute record: a struct whose fields are encoded in order.
#[macro_export]
macro_rules! record {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }

        impl $crate::jute::Jute for $name {
            #[allow(unused_variables)]
            fn write(&self, w: &mut $crate::jute::Writer) {
                $($crate::jute::Jute::write(&self.$field, w);)*
            }
            #[allow(unused_variables)]
            fn read(r: &mut $crate::jute::Reader<'_>) -> $crate::jute::Result<Self> {
                Ok($name { $($field: <$ty as $crate::jute::Jute>::read(r)?),* })
            }
        }
        impl $crate::jute::VecElem for $name {}
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_buffers_differ() {
        let mut w = Writer::new();
        w.write_buffer(None);
        w.write_buffer(Some(b""));
        let b = w.into_inner();
        assert_eq!(b, vec![255, 255, 255, 255, 0, 0, 0, 0]);
        let mut r = Reader::new(&b);
        assert_eq!(r.read_buffer().unwrap(), None);
        assert_eq!(r.read_buffer().unwrap(), Some(vec![]));
    }

    #[test]
    fn hostile_lengths_are_errors() {
        let b = [0x7f, 0xff, 0xff, 0xff, 1, 2];
        assert!(Reader::new(&b).read_buffer().is_err());
        let b = [0xff, 0xff, 0xff, 0xfe];
        assert!(Reader::new(&b).read_string().is_err());
        assert!(Reader::new(&b).read_count().is_err());
        let b = [0, 0, 0, 100];
        assert!(Vec::<String>::from_bytes(&b).is_err());
        assert!(Reader::new(&[0, 0]).read_i32().is_err());
    }

    #[test]
    fn bad_utf8_is_replaced_like_java() {
        let b = [0, 0, 0, 2, 0xc3, 0x28];
        assert_eq!(Reader::new(&b).read_string().unwrap(), "\u{FFFD}(");
    }
}

//! The snapshot file: a header, one frame per record, and an end frame.
//!
//! A frame is `tag u8 · key length u32 LE · value length u32 LE · key · value · crc32
//! u32 LE`, the checksum covering everything before it in the frame, so a reader holds
//! one record at a time and notices any torn or flipped byte. The end frame (tag
//! [`END`]) holds the number of frames before it: a file cut between two frames is
//! caught too.

use std::io::{self, Read, Write};

/// "Cirrus snapshot", format 1.
const MAGIC: &[u8; 8] = b"CRSNAP\x00\x01";
const END: u8 = u8::MAX;
const HEADER_BYTES: usize = 9;
/// Above any key or value Cirrus writes (keys are under 8 KB; the largest value, a
/// change record, holds two 400 KB images): a corrupt length is refused before it can
/// make a reader allocate much.
const MAX_KEY_BYTES: usize = 64 << 10;
const MAX_VALUE_BYTES: usize = 16 << 20;

fn corrupt(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot file: {what}"))
}

fn frame_header(tag: u8, key: usize, value: usize) -> io::Result<[u8; HEADER_BYTES]> {
    if key > MAX_KEY_BYTES || value > MAX_VALUE_BYTES {
        return Err(corrupt(format_args!(
            "a record of {key} + {value} bytes is over the limit"
        )));
    }
    let mut header = [0u8; HEADER_BYTES];
    header[0] = tag;
    // Both lengths are within the limits above, far below u32::MAX.
    header[1..5].copy_from_slice(&(key as u32).to_le_bytes());
    header[5..].copy_from_slice(&(value as u32).to_le_bytes());
    Ok(header)
}

fn checksum(header: &[u8], key: &[u8], value: &[u8]) -> [u8; 4] {
    let mut crc = crc32fast::Hasher::new();
    crc.update(header);
    crc.update(key);
    crc.update(value);
    crc.finalize().to_le_bytes()
}

pub struct FrameWriter<W: Write> {
    out: W,
    frames: u64,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(FrameWriter { out, frames: 0 })
    }

    /// Appends one record; `tag` must not be the end frame's.
    pub fn frame(&mut self, tag: u8, key: &[u8], value: &[u8]) -> io::Result<()> {
        if tag == END {
            return Err(corrupt("a record may not use the end tag"));
        }
        self.frames += 1;
        self.write(tag, key, value)
    }

    fn write(&mut self, tag: u8, key: &[u8], value: &[u8]) -> io::Result<()> {
        let header = frame_header(tag, key.len(), value.len())?;
        self.out.write_all(&header)?;
        self.out.write_all(key)?;
        self.out.write_all(value)?;
        self.out.write_all(&checksum(&header, key, value))
    }

    /// Writes the end frame and returns the output (not yet flushed).
    pub fn finish(mut self) -> io::Result<W> {
        let frames = self.frames.to_le_bytes();
        self.write(END, &[], &frames)?;
        Ok(self.out)
    }
}

/// One record read back; its buffers are reused by the next one.
#[derive(Default)]
pub struct Frame {
    pub tag: u8,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

pub struct FrameReader<R: Read> {
    input: R,
    frames: u64,
    ended: bool,
    frame: Frame,
}

/// Reads exactly `length` bytes into `buffer`, growing it only as bytes arrive.
fn read_field(input: &mut impl Read, length: usize, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.clear();
    input.take(length as u64).read_to_end(buffer)?;
    if buffer.len() < length {
        return Err(corrupt("truncated"));
    }
    Ok(())
}

fn read_exact(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<()> {
    input.read_exact(buffer).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("truncated"),
        _ => e,
    })
}

impl<R: Read> FrameReader<R> {
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut magic = [0u8; MAGIC.len()];
        read_exact(&mut input, &mut magic)?;
        if &magic != MAGIC {
            return Err(corrupt("not a Cirrus snapshot of a known format"));
        }
        Ok(FrameReader {
            input,
            frames: 0,
            ended: false,
            frame: Frame::default(),
        })
    }

    /// The next record, or `None` after a verified end frame.
    pub fn next_frame(&mut self) -> io::Result<Option<&Frame>> {
        if self.ended {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_BYTES];
        read_exact(&mut self.input, &mut header)?;
        let length = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
                as usize
        };
        let (key_length, value_length) = (length(1), length(5));
        if key_length > MAX_KEY_BYTES || value_length > MAX_VALUE_BYTES {
            return Err(corrupt("a record length is over the limit"));
        }
        read_field(&mut self.input, key_length, &mut self.frame.key)?;
        read_field(&mut self.input, value_length, &mut self.frame.value)?;
        let mut stored = [0u8; 4];
        read_exact(&mut self.input, &mut stored)?;
        if stored != checksum(&header, &self.frame.key, &self.frame.value) {
            return Err(corrupt(format_args!(
                "checksum mismatch in record {}",
                self.frames
            )));
        }
        self.frame.tag = header[0];
        if self.frame.tag != END {
            self.frames += 1;
            return Ok(Some(&self.frame));
        }
        if self.frame.value != self.frames.to_le_bytes() {
            return Err(corrupt(
                "the end record counts other records than were read",
            ));
        }
        if self.input.read(&mut [0u8; 1])? != 0 {
            return Err(corrupt("bytes after the end record"));
        }
        self.ended = true;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> io::Result<Vec<u8>> {
        let mut writer = FrameWriter::new(Vec::new())?;
        writer.frame(0, b"a", b"")?;
        writer.frame(3, b"key", &[7u8; 1000])?;
        writer.finish()
    }

    /// Each record's tag, key and value.
    type Records = Vec<(u8, Vec<u8>, Vec<u8>)>;

    fn read_all(bytes: &[u8]) -> io::Result<Records> {
        let mut reader = FrameReader::new(bytes)?;
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            frames.push((frame.tag, frame.key.clone(), frame.value.clone()));
        }
        Ok(frames)
    }

    #[test]
    fn records_round_trip() -> io::Result<()> {
        let frames = read_all(&sample()?)?;
        assert_eq!(
            frames,
            vec![
                (0, b"a".to_vec(), Vec::new()),
                (3, b"key".to_vec(), vec![7u8; 1000])
            ]
        );
        Ok(())
    }

    #[test]
    fn every_flipped_or_missing_byte_is_detected() -> io::Result<()> {
        let bytes = sample()?;
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(
                read_all(&flipped).is_err(),
                "flipped byte {at} went unnoticed"
            );
            assert!(
                read_all(&bytes[..at]).is_err(),
                "a file cut to {at} bytes went unnoticed"
            );
        }
        let mut longer = bytes;
        longer.push(0);
        assert!(read_all(&longer).is_err());
        Ok(())
    }
}

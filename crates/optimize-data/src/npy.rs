//! NumPy `.npy` files: one array, a text header and raw data.
//!
//! The format (NumPy's `numpy/lib/format.py`, "NPY format"): the magic `\x93NUMPY`, a major and
//! minor version byte, the header length (a little-endian `u16` in version 1.0, `u32` in 2.0 and
//! 3.0), then the header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and a
//! newline, then `numel * itemsize` bytes of data.
//!
//! Read: versions 1.0, 2.0 and 3.0; the little-endian dtypes `<f2 <f4 <f8 |i1 |u1 <i2 <u2 <i4
//! <u4 <i8 <u8 |b1`; C order. Fortran order (unless at most one axis is longer than 1, where the
//! bytes are the same), big-endian, object, structured and other dtypes are an
//! [`Error::UnsupportedNpy`] that names the file and what to do. The header is parsed as a
//! Python literal (strings in either quote, `True`/`False`, tuples, Python 2 `3L` integers);
//! its length is capped at [`MAX_HEADER_LEN`] and the data length is computed with checked
//! arithmetic and checked against what follows the header ([`Error::DataLength`]).
//!
//! Write: version 1.0 (2.0 if the header does not fit), the same header bytes NumPy writes,
//! data aligned to 64 bytes. `bf16` has no NumPy dtype and is refused.
//!
//! ```
//! use optimize_data::{npy, Tensor};
//!
//! let t = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
//! let mut bytes = Vec::new();
//! npy::write_npy_to(&mut bytes, &t, "t.npy".as_ref())?;
//! assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
//! let back = npy::read_npy_from(&bytes[..], "t.npy".as_ref())?;
//! assert_eq!(back, t);
//! # Ok::<(), optimize_data::Error>(())
//! ```

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::tensor::numel;
use crate::{DType, Error, Result, Tensor};

/// The six bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The longest header read, in bytes. NumPy itself refuses headers over 10,000 characters
/// unless told to trust the file; arrays of the dtypes read here need under 200.
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// Data buffers start at most this large and grow as bytes actually arrive, so a header that
/// claims a huge shape cannot make the reader allocate memory the file does not back.
const INITIAL_CAPACITY: usize = 64 << 20;

/// Headers are padded so that data starts on a multiple of this (NumPy's `ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;

/// NumPy's `GROWTH_AXIS_MAX_DIGITS`: spare spaces it leaves after the header dict.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The parsed header of a `.npy` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version, `(1, 0)`, `(2, 0)` or `(3, 0)`.
    pub version: (u8, u8),
    /// Element type.
    pub dtype: DType,
    /// Shape, C order; `[]` for a 0-d array.
    pub shape: Vec<usize>,
    /// Bytes before the data: magic, version, length field and header.
    pub data_offset: usize,
    /// Bytes of data the dtype and shape need (checked for overflow).
    pub data_len: usize,
}

/// Where an array came from, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub path: &'a Path,
    pub array: Option<&'a str>,
}

impl<'a> Origin<'a> {
    pub(crate) fn file(path: &'a Path) -> Self {
        Self { path, array: None }
    }

    fn npy(&self, detail: impl Into<String>) -> Error {
        Error::Npy {
            path: self.path.to_path_buf(),
            array: self.array.map(str::to_string),
            detail: detail.into(),
        }
    }

    fn unsupported(&self, what: impl Into<String>) -> Error {
        Error::UnsupportedNpy {
            path: self.path.to_path_buf(),
            array: self.array.map(str::to_string),
            what: what.into(),
        }
    }

    pub(crate) fn data_length(&self, header: &NpyHeader, found: u64) -> Error {
        Error::DataLength {
            path: self.path.to_path_buf(),
            array: self.array.map(str::to_string),
            dtype: header.dtype,
            shape: header.shape.clone(),
            expected: header.data_len as u64,
            found,
        }
    }
}

impl NpyHeader {
    /// Reads the header from the start of a `.npy` stream, leaving `reader` at the first data
    /// byte. `name` is the file name used in error messages.
    pub fn read<R: Read>(reader: &mut R, name: &Path) -> Result<Self> {
        read_header(reader, Origin::file(name))
    }
}

pub(crate) fn read_header<R: Read>(reader: &mut R, origin: Origin<'_>) -> Result<NpyHeader> {
    let mut prefix = [0u8; 8];
    read_exact(reader, &mut prefix, origin, "file is too short to be .npy")?;
    if &prefix[..6] != MAGIC {
        return Err(origin.npy("does not start with the .npy magic \\x93NUMPY"));
    }
    let version = (prefix[6], prefix[7]);
    let (len_size, utf8) = match version {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        (major, minor) => {
            return Err(origin.unsupported(format!(
                "format version {major}.{minor} (this reader knows 1.0, 2.0 and 3.0)"
            )))
        }
    };
    let mut len_bytes = [0u8; 4];
    read_exact(
        reader,
        &mut len_bytes[..len_size],
        origin,
        "file ends inside the header length",
    )?;
    let header_len = u32::from_le_bytes(len_bytes) as usize;
    if header_len > MAX_HEADER_LEN {
        return Err(origin.npy(format!(
            "header is {header_len} bytes long, over the limit of {MAX_HEADER_LEN}"
        )));
    }
    let mut raw = vec![0u8; header_len];
    read_exact(reader, &mut raw, origin, "file ends inside the header")?;
    let text = if utf8 {
        String::from_utf8(raw).map_err(|_| origin.npy("version 3.0 header is not UTF-8"))?
    } else {
        // Versions 1.0 and 2.0 are latin-1.
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let (dtype, shape) = parse_header(&text, origin)?;
    let data_len = numel(&shape)
        .ok()
        .and_then(|n| n.checked_mul(dtype.size_of()))
        .ok_or_else(|| origin.npy(format!("shape {shape:?} is too large to address")))?;
    Ok(NpyHeader {
        version,
        dtype,
        shape,
        data_offset: 6 + 2 + len_size + header_len,
        data_len,
    })
}

fn read_exact<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    origin: Origin<'_>,
    short: &str,
) -> Result<()> {
    reader.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            origin.npy(short)
        } else {
            Error::read(origin.path, e)
        }
    })
}

/// Reads the data that follows a header, checking its length exactly: the stream must end
/// right after `header.data_len` bytes.
pub(crate) fn read_data<R: Read>(
    reader: &mut R,
    header: &NpyHeader,
    origin: Origin<'_>,
) -> Result<Tensor> {
    let mut bytes = Vec::with_capacity(header.data_len.min(INITIAL_CAPACITY));
    reader
        .take(header.data_len as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::read(origin.path, e))?;
    if bytes.len() < header.data_len {
        return Err(origin.data_length(header, bytes.len() as u64));
    }
    let extra = io::copy(reader, &mut io::sink()).map_err(|e| Error::read(origin.path, e))?;
    if extra > 0 {
        return Err(origin.data_length(header, header.data_len as u64 + extra));
    }
    Tensor::from_bytes(header.dtype, header.shape.clone(), bytes)
}

pub(crate) fn read_array<R: Read>(mut reader: R, origin: Origin<'_>) -> Result<Tensor> {
    let header = read_header(&mut reader, origin)?;
    read_data(&mut reader, &header, origin)
}

/// Reads a `.npy` array from any reader (a file, bytes, an `.npz` member); `name` is the file
/// name used in error messages. The stream must end where the data ends.
pub fn read_npy_from<R: Read>(reader: R, name: &Path) -> Result<Tensor> {
    read_array(reader, Origin::file(name))
}

/// Reads the header of the `.npy` file at `path` without reading its data, and checks the file
/// size against it.
pub fn read_npy_header(path: impl AsRef<Path>) -> Result<NpyHeader> {
    let path = path.as_ref();
    let (header, _) = open_checked(path)?;
    Ok(header)
}

/// Reads the `.npy` file at `path`.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let (header, mut reader) = open_checked(path)?;
    read_data(&mut reader, &header, Origin::file(path))
}

/// Opens `path`, reads its header and checks the file size against it before any data is read.
fn open_checked(path: &Path) -> Result<(NpyHeader, BufReader<File>)> {
    let origin = Origin::file(path);
    let file = File::open(path).map_err(|e| Error::read(path, e))?;
    let size = file.metadata().map_err(|e| Error::read(path, e))?.len();
    let mut reader = BufReader::new(file);
    let header = read_header(&mut reader, origin)?;
    let found = size.saturating_sub(header.data_offset as u64);
    if found != header.data_len as u64 {
        return Err(origin.data_length(&header, found));
    }
    Ok((header, reader))
}

// ---- Header parsing ------------------------------------------------------------------------

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

/// Nesting deeper than this is not a `.npy` header (and would risk the stack).
const MAX_DEPTH: usize = 16;

struct Parser<'s> {
    chars: std::iter::Peekable<std::str::CharIndices<'s>>,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.peek().map(|&(_, c)| c)
    }

    fn expect(&mut self, want: char) -> Result<(), String> {
        match self.peek() {
            Some(c) if c == want => {
                self.chars.next();
                Ok(())
            }
            Some(c) => Err(format!("expected '{want}', found '{c}'")),
            None => Err(format!("expected '{want}', found the end of the header")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_DEPTH {
            return Err("literal is nested too deeply".into());
        }
        match self.peek() {
            Some('{') => {
                self.chars.next();
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some('}') {
                        self.chars.next();
                        return Ok(Literal::Dict(items));
                    }
                    let key = self.value(depth + 1)?;
                    self.expect(':')?;
                    let value = self.value(depth + 1)?;
                    items.push((key, value));
                    if self.peek() == Some(',') {
                        self.chars.next();
                    } else {
                        self.expect('}')?;
                        return Ok(Literal::Dict(items));
                    }
                }
            }
            Some(open @ ('(' | '[')) => {
                self.chars.next();
                let close = if open == '(' { ')' } else { ']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.peek() == Some(close) {
                        self.chars.next();
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    trailing_comma = false;
                    if self.peek() == Some(',') {
                        self.chars.next();
                        trailing_comma = true;
                    } else {
                        self.expect(close)?;
                        break;
                    }
                }
                Ok(match (open, items.len(), trailing_comma) {
                    // `(3)` is a parenthesised 3, not a tuple.
                    ('(', 1, false) => items.remove(0),
                    ('(', ..) => Literal::Tuple(items),
                    _ => Literal::List(items),
                })
            }
            Some(quote @ ('\'' | '"')) => {
                self.chars.next();
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        Some((_, c)) if c == quote => return Ok(Literal::Str(s)),
                        Some((_, '\\')) => match self.chars.next() {
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, c)) => s.push(c),
                            None => return Err("unterminated string".into()),
                        },
                        Some((_, c)) => s.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
            }
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => {
                let mut text = String::new();
                while let Some((_, c)) = self
                    .chars
                    .next_if(|&(_, c)| c.is_ascii_alphanumeric() || c == '-' || c == '+')
                {
                    text.push(c);
                }
                // Python 2 wrote long integers as `3L`.
                let digits = text.trim_end_matches(['L', 'l']);
                digits
                    .parse::<i128>()
                    .map(Literal::Int)
                    .map_err(|_| format!("'{text}' is not an integer"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let mut word = String::new();
                while let Some((_, c)) = self
                    .chars
                    .next_if(|&(_, c)| c.is_ascii_alphanumeric() || c == '_')
                {
                    word.push(c);
                }
                match word.as_str() {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    "None" => Ok(Literal::None),
                    _ => Err(format!("unexpected word '{word}'")),
                }
            }
            Some(c) => Err(format!("unexpected character '{c}'")),
            None => Err("unexpected end of the header".into()),
        }
    }
}

/// Parses a Python literal; the whole text must be one literal.
fn parse_literal(text: &str) -> Result<Literal, String> {
    if text.trim().is_empty() {
        return Err("header is empty".into());
    }
    let mut parser = Parser {
        chars: text.char_indices().peekable(),
    };
    let value = parser.value(0)?;
    match parser.peek() {
        None => Ok(value),
        Some(c) => Err(format!("unexpected '{c}' after the header dict")),
    }
}

fn parse_header(text: &str, origin: Origin<'_>) -> Result<(DType, Vec<usize>)> {
    let literal =
        parse_literal(text).map_err(|e| origin.npy(format!("cannot parse header: {e}")))?;
    let Literal::Dict(items) = literal else {
        return Err(origin.npy("header is not a dict"));
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in items {
        let Literal::Str(key) = key else {
            return Err(origin.npy("header dict has a key that is not a string"));
        };
        match key.as_str() {
            "descr" => descr = Some(value),
            "fortran_order" => fortran = Some(value),
            "shape" => shape = Some(value),
            other => return Err(origin.npy(format!("header has an unknown key '{other}'"))),
        }
    }
    let missing = |k: &str| origin.npy(format!("header has no '{k}' key"));
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Literal::Bool(b) => b,
        other => return Err(origin.npy(format!("'fortran_order' is {other:?}, not True or False"))),
    };
    let Literal::Tuple(dims) = shape.ok_or_else(|| missing("shape"))? else {
        return Err(origin.npy("'shape' is not a tuple"));
    };
    let shape = dims
        .iter()
        .map(|d| match d {
            Literal::Int(n) => usize::try_from(*n)
                .map_err(|_| origin.npy(format!("shape has an invalid dimension {n}"))),
            other => Err(origin.npy(format!("shape has a dimension {other:?}"))),
        })
        .collect::<Result<Vec<usize>>>()?;
    let dtype = match descr {
        Literal::Str(s) => parse_descr(&s, origin)?,
        Literal::List(_) => {
            return Err(origin
                .unsupported("structured dtype (record array); save each field as its own array"))
        }
        other => return Err(origin.npy(format!("'descr' is {other:?}, not a dtype string"))),
    };
    // Fortran and C order lay out the same bytes when at most one axis is longer than 1.
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(origin.unsupported(format!(
            "Fortran-order (column-major) data of shape {shape:?}; save it with \
             np.save(path, np.ascontiguousarray(a))"
        )));
    }
    Ok((dtype, shape))
}

fn parse_descr(descr: &str, origin: Origin<'_>) -> Result<DType> {
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('|', descr),
    };
    let dtype = match code {
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "b1" | "?" => DType::Bool,
        _ if code.starts_with('O') => {
            return Err(origin
                .unsupported("object array ('|O'): it holds pickled Python objects, not numbers"))
        }
        _ => {
            return Err(origin.unsupported(format!(
                "dtype '{descr}'; supported: <f2 <f4 <f8 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 |b1"
            )))
        }
    };
    if dtype.size_of() > 1 {
        match order {
            '<' => {}
            '>' => {
                return Err(origin.unsupported(format!(
                    "big-endian dtype '{descr}'; save it as little-endian with \
                     a.astype(a.dtype.newbyteorder('<'))"
                )))
            }
            _ => {
                return Err(origin.unsupported(format!(
                    "dtype '{descr}' does not say its byte order; expected '<{code}'"
                )))
            }
        }
    }
    Ok(dtype)
}

// ---- Writing ---------------------------------------------------------------------------------

/// NumPy's `descr` for a dtype (`<f4`), or `None` for `bf16`, which NumPy lacks.
pub fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        DType::BF16 => return None,
    })
}

/// The header bytes NumPy writes for this dtype and shape (magic to newline).
pub(crate) fn header_bytes(dtype: DType, shape: &[usize], origin: Origin<'_>) -> Result<Vec<u8>> {
    let descr = descr(dtype).ok_or_else(|| Error::NoNumpyDType {
        path: origin.path.to_path_buf(),
        array: origin.array.map(str::to_string),
        dtype,
    })?;
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    if let Some(first) = dims.first() {
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(first.len())));
    }
    // magic + version + length field + dict + padding + '\n' is a multiple of ARRAY_ALIGN.
    let build = |len_size: usize, version: u8| -> Option<Vec<u8>> {
        let unpadded = MAGIC.len() + 2 + len_size + dict.len() + 1;
        let pad = (ARRAY_ALIGN - unpadded % ARRAY_ALIGN) % ARRAY_ALIGN;
        let header_len = dict.len() + pad + 1;
        let mut out = Vec::with_capacity(unpadded + pad);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[version, 0]);
        if len_size == 2 {
            out.extend_from_slice(&u16::try_from(header_len).ok()?.to_le_bytes());
        } else {
            out.extend_from_slice(&u32::try_from(header_len).ok()?.to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.extend(std::iter::repeat_n(b' ', pad));
        out.push(b'\n');
        Some(out)
    };
    build(2, 1)
        .or_else(|| build(4, 2))
        .ok_or_else(|| origin.npy("header does not fit in a u32"))
}

pub(crate) fn write_array<W: Write>(
    writer: &mut W,
    tensor: &Tensor,
    origin: Origin<'_>,
) -> Result<()> {
    let header = header_bytes(tensor.dtype(), tensor.shape(), origin)?;
    writer
        .write_all(&header)
        .and_then(|()| writer.write_all(tensor.as_bytes()))
        .map_err(|e| Error::write(origin.path, e))
}

/// Writes `tensor` as `.npy` to any writer; `name` is the file name used in error messages.
pub fn write_npy_to<W: Write>(mut writer: W, tensor: &Tensor, name: &Path) -> Result<()> {
    write_array(&mut writer, tensor, Origin::file(name))?;
    writer.flush().map_err(|e| Error::write(name, e))
}

/// Writes `tensor` to a `.npy` file at `path`, atomically: through a temporary file in the
/// same folder that replaces `path` only once complete.
pub fn write_npy(path: impl AsRef<Path>, tensor: &Tensor) -> Result<()> {
    let path = path.as_ref();
    // Refuse bf16 before creating anything.
    header_bytes(tensor.dtype(), tensor.shape(), Origin::file(path))?;
    crate::atomic::write_with(
        path,
        |file| {
            let mut w = BufWriter::new(file);
            write_array(&mut w, tensor, Origin::file(path))?;
            w.flush().map_err(|e| Error::write(path, e))
        },
        |e| Error::write(path, e),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin::file(Path::new("t.npy"))
    }

    fn npy_with_header(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn parses_the_header_numpy_writes() {
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n";
        assert_eq!(
            parse_header(text, origin()).unwrap(),
            (DType::F32, vec![3, 4])
        );
        let text = "{'descr': '|b1', 'fortran_order': False, 'shape': (), }";
        assert_eq!(parse_header(text, origin()).unwrap(), (DType::Bool, vec![]));
        let text = "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }";
        assert_eq!(parse_header(text, origin()).unwrap(), (DType::I64, vec![5]));
    }

    #[test]
    fn parses_other_spellings() {
        // Double quotes, other key order, no trailing comma, Python 2 longs.
        let text = r#"{"shape": (2L, 3L), "fortran_order": False, "descr": "<u2"}"#;
        assert_eq!(
            parse_header(text, origin()).unwrap(),
            (DType::U16, vec![2, 3])
        );
        // Fortran order is fine when the bytes are the same as C order.
        let text = "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 7, 1), }";
        assert_eq!(
            parse_header(text, origin()).unwrap(),
            (DType::F64, vec![1, 7, 1])
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let cases = [
            ("{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
                "not True or False",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
                "invalid dimension -1",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
                "not a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                "unknown key 'x'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
                "after the header dict",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
                "unexpected end",
            ),
            ("{'descr': '<f4", "unterminated string"),
            ("[1, 2]", "not a dict"),
            ("", "header is empty"),
            (&"(".repeat(100), "nested too deeply"),
        ];
        for (text, want) in cases {
            let err = parse_header(text, origin()).unwrap_err();
            assert!(matches!(err, Error::Npy { .. }), "{text}: {err}");
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn unsupported_layouts_say_what() {
        let cases = [
            (
                "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}",
                "big-endian",
            ),
            (
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}",
                "Fortran-order",
            ),
            (
                "{'descr': '|O', 'fortran_order': False, 'shape': (2,)}",
                "object array",
            ),
            (
                "{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}",
                "dtype '<c8'",
            ),
            (
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
                "structured",
            ),
        ];
        for (text, want) in cases {
            let err = parse_header(text, origin()).unwrap_err();
            assert!(matches!(err, Error::UnsupportedNpy { .. }), "{text}: {err}");
            assert!(err.to_string().starts_with("t.npy: unsupported"), "{err}");
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
        // One-byte types need no byte order; big-endian bytes are fine.
        assert_eq!(parse_descr(">u1", origin()).unwrap(), DType::U8);
    }

    #[test]
    fn overflowing_shapes_are_errors() {
        let dict = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, 4), }}",
            usize::MAX / 2
        );
        let bytes = npy_with_header(1, &dict, &[]);
        let err = read_npy_from(&bytes[..], Path::new("t.npy")).unwrap_err();
        assert!(err.to_string().contains("too large to address"), "{err}");
        // Bigger than i128 is still an error, not a panic.
        let dict = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': (9{}, ), }}",
            "9".repeat(50)
        );
        let bytes = npy_with_header(1, &dict, &[]);
        assert!(read_npy_from(&bytes[..], Path::new("t.npy")).is_err());
    }

    #[test]
    fn versions_two_and_three_read() {
        let dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }\n";
        for version in [2, 3] {
            let bytes = npy_with_header(version, dict, &[1, 0, 2, 0]);
            let t = read_npy_from(&bytes[..], Path::new("t.npy")).unwrap();
            assert_eq!(t.to_i16_vec().unwrap(), [1, 2]);
        }
        let bytes = npy_with_header(4, dict, &[1, 0, 2, 0]);
        let err = read_npy_from(&bytes[..], Path::new("t.npy")).unwrap_err();
        assert!(err.to_string().contains("format version 4.0"), "{err}");
    }

    #[test]
    fn data_length_is_checked_both_ways() {
        let dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }\n";
        let short = npy_with_header(1, dict, &[1, 0, 2]);
        let err = read_npy_from(&short[..], Path::new("t.npy")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.npy: header says i16 [2], which needs 4 bytes of data, but 3 bytes follow"
        );
        let long = npy_with_header(1, dict, &[1, 0, 2, 0, 9]);
        let err = read_npy_from(&long[..], Path::new("t.npy")).unwrap_err();
        assert!(matches!(err, Error::DataLength { found: 5, .. }), "{err}");
    }

    #[test]
    fn header_length_is_capped() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[2, 0]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = read_npy_from(&bytes[..], Path::new("t.npy")).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        let err = read_npy_from(&b"\x93NUMPY"[..], Path::new("t.npy")).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        let err = read_npy_from(&b"PK\x03\x04 not npy"[..], Path::new("t.npy")).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }

    #[test]
    fn written_header_matches_numpy_bytes() {
        // np.save(f, np.zeros((3, 4), np.float32)); f.getvalue()[:128]
        let header = header_bytes(DType::F32, &[3, 4], origin()).unwrap();
        let mut want =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
                .to_vec();
        want.extend(std::iter::repeat_n(b' ', 128 - want.len() - 1));
        want.push(b'\n');
        assert_eq!(header, want);
        assert_eq!(header_bytes(DType::Bool, &[], origin()).unwrap().len(), 128);
        let err = header_bytes(DType::BF16, &[1], origin()).unwrap_err();
        assert!(matches!(err, Error::NoNumpyDType { .. }), "{err}");
    }

    #[test]
    fn every_dtype_round_trips() {
        for dtype in DType::ALL {
            if dtype == DType::BF16 {
                continue;
            }
            let t = crate::random_tensor(dtype, &[2, 3], 1, crate::RandomRange::default_for(dtype))
                .unwrap();
            let mut bytes = Vec::new();
            write_npy_to(&mut bytes, &t, Path::new("t.npy")).unwrap();
            assert_eq!(bytes.len() % 64, (t.as_bytes().len()) % 64);
            assert_eq!(read_npy_from(&bytes[..], Path::new("t.npy")).unwrap(), t);
        }
    }
}

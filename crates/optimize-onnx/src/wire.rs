//! A framing check of the top level of a protobuf message, run before decoding.
//!
//! prost's decode errors say little ("buffer underflow"); this scan says where a file is cut short
//! and tells "not protobuf at all" apart from "protobuf, but not a `ModelProto`" by comparing each
//! top-level field's wire type with the one `ModelProto` declares for that field number.

/// What the scan found wrong.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WireProblem {
    /// The bytes do not frame as protobuf (bad tag, bad wire type, cut short).
    Malformed(String),
    /// Well-formed protobuf whose fields do not fit `ModelProto`.
    NotModel(String),
}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// Wire type `ModelProto` uses for each field number it defines (onnx-ml.proto).
fn model_field_wire_type(field: u64) -> Option<u8> {
    match field {
        1 | 5 => Some(VARINT), // ir_version, model_version
        2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 | 26 => Some(LEN), // strings and messages
        _ => None,
    }
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Scans the top-level fields of `buf` as a `ModelProto`.
pub(crate) fn check_model_framing(buf: &[u8]) -> Result<(), WireProblem> {
    let mut pos = 0usize;
    let mut saw_graph = false;
    while pos < buf.len() {
        let at = pos;
        let key = read_varint(buf, &mut pos)
            .ok_or_else(|| WireProblem::Malformed(format!("bad field key at byte {at}")))?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        if field == 0 {
            return Err(WireProblem::Malformed(format!(
                "field number 0 at byte {at}"
            )));
        }
        match wire {
            VARINT => {
                read_varint(buf, &mut pos).ok_or_else(|| {
                    WireProblem::Malformed(format!(
                        "truncated: varint field {field} at byte {at} runs past the end"
                    ))
                })?;
            }
            I64 | I32 => {
                let n = if wire == I64 { 8 } else { 4 };
                if buf.len() - pos < n {
                    return Err(WireProblem::Malformed(format!(
                        "truncated: field {field} at byte {at} needs {n} bytes, file ends at {}",
                        buf.len()
                    )));
                }
                pos += n;
            }
            LEN => {
                let len = read_varint(buf, &mut pos).ok_or_else(|| {
                    WireProblem::Malformed(format!(
                        "truncated: length of field {field} at byte {at}"
                    ))
                })?;
                let left = (buf.len() - pos) as u64;
                if len > left {
                    return Err(WireProblem::Malformed(format!(
                        "truncated: field {field} at byte {at} declares {len} bytes but only {left} remain"
                    )));
                }
                pos += len as usize;
            }
            other => {
                return Err(WireProblem::Malformed(format!(
                    "invalid wire type {other} for field {field} at byte {at}"
                )))
            }
        }
        match model_field_wire_type(field) {
            Some(expected) if expected != wire => {
                return Err(WireProblem::NotModel(format!(
                    "field {field} has wire type {wire}, ModelProto expects {expected}"
                )))
            }
            _ => {}
        }
        saw_graph |= field == 7;
    }
    if !saw_graph {
        return Err(WireProblem::NotModel("it has no graph (field 7)".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_minimal_model_framing() {
        // ir_version = 8, graph = {} (empty message)
        assert_eq!(check_model_framing(&[0x08, 0x08, 0x3a, 0x00]), Ok(()));
    }

    #[test]
    fn reports_truncation_with_position() {
        // graph field declares 5 bytes, only 1 follows
        let err = check_model_framing(&[0x08, 0x08, 0x3a, 0x05, 0x00]).unwrap_err();
        assert!(
            matches!(&err, WireProblem::Malformed(m) if m.contains("declares 5 bytes but only 1 remain")),
            "{err:?}"
        );
    }

    #[test]
    fn wire_type_mismatch_is_not_a_model() {
        // field 2 (producer_name, a string) sent as a varint: a TensorProto's data_type looks like this
        let err = check_model_framing(&[0x08, 0x01, 0x10, 0x01]).unwrap_err();
        assert!(matches!(err, WireProblem::NotModel(_)), "{err:?}");
    }

    #[test]
    fn missing_graph_is_not_a_model() {
        let err = check_model_framing(&[0x08, 0x08]).unwrap_err();
        assert!(
            matches!(&err, WireProblem::NotModel(m) if m.contains("no graph")),
            "{err:?}"
        );
    }

    #[test]
    fn groups_are_malformed() {
        let err = check_model_framing(&[0x0b]).unwrap_err();
        assert!(matches!(err, WireProblem::Malformed(_)), "{err:?}");
    }
}

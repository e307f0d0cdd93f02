use optimize_data::npz::NpzReader;
use optimize_data::{bf16, f16, read_npy, read_npz, DType, Error, Tensor};

use crate::util::case;

fn npy(name: &str) -> Result<Tensor, Error> {
    read_npy(case("npy-formats", name))
}

#[test]
fn reads_what_np_save_writes() {
    let t = npy("f32.npy").unwrap();
    assert_eq!(t.shape(), [2, 3]);
    assert_eq!(t.to_f32_vec().unwrap(), [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);

    let t = npy("f16.npy").unwrap();
    let want = [0.5, -2.0, 65504.0, f32::NEG_INFINITY].map(f16::from_f32);
    assert_eq!(t.to_f16_vec().unwrap(), want);
    assert_eq!(t.count_non_finite(), 1);

    let t = npy("f64_nan.npy").unwrap();
    let v = t.to_f64_vec().unwrap();
    assert_eq!((v[0], v[2]), (1.0, 2.5));
    assert!(v[1].is_nan());
    assert_eq!(t.count_non_finite(), 1);

    let t = npy("bool.npy").unwrap();
    assert_eq!(t.to_bool_vec().unwrap(), [true, false, true, true, false]);

    let t = npy("scalar.npy").unwrap();
    assert_eq!(t.shape(), [] as [usize; 0]);
    assert_eq!(t.to_i64_vec().unwrap(), [42]);

    let t = npy("empty.npy").unwrap();
    assert_eq!((t.dtype(), t.shape()), (DType::F32, &[0, 3][..]));

    assert_eq!(npy("v2.npy").unwrap().to_i16_vec().unwrap(), [-1, 0, 7]);
    assert_eq!(npy("v3.npy").unwrap().to_u8_vec().unwrap(), [1, 255]);
    assert_eq!(
        npy("fortran_1d.npy").unwrap().to_i32_vec().unwrap(),
        [1, 2, 3, 4]
    );
}

#[test]
fn reads_stored_and_deflated_npz() {
    for file in ["dtypes.npz", "compressed.npz"] {
        let arrays = read_npz(case("npy-formats", file)).unwrap();
        let get = |name: &str| {
            arrays
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{file}: no {name}"))
                .1
                .clone()
        };
        assert_eq!(arrays.len(), 14, "{file}");
        for (name, dtype) in [
            ("float32", DType::F32),
            ("float16", DType::F16),
            ("float64", DType::F64),
            ("int8", DType::I8),
            ("uint8", DType::U8),
            ("int16", DType::I16),
            ("uint16", DType::U16),
            ("int32", DType::I32),
            ("uint32", DType::U32),
            ("int64", DType::I64),
            ("uint64", DType::U64),
            ("bool", DType::Bool),
        ] {
            let t = get(name);
            assert_eq!(
                (t.dtype(), t.shape()),
                (dtype, &[2, 2][..]),
                "{file}: {name}"
            );
        }
        assert_eq!(get("float16").to_f16_vec().unwrap()[3], f16::from_f32(3.0));
        assert_eq!(get("uint64").to_u64_vec().unwrap(), [0, 1, 2, 3]);
        assert_eq!(
            get("bool").to_bool_vec().unwrap(),
            [false, true, false, true]
        );
        assert_eq!(get("scalar").to_i64_vec().unwrap(), [-7]);
        assert_eq!(get("a.b").to_f32_vec().unwrap(), [1.5]);
    }
    // Headers alone, without reading data.
    let mut reader = NpzReader::open(case("npy-formats", "compressed.npz")).unwrap();
    let header = reader.header("int64").unwrap();
    assert_eq!(
        (header.dtype, header.shape, header.data_len),
        (DType::I64, vec![2, 2], 32)
    );
    // bf16 has no NumPy dtype, so nothing NumPy writes reads as bf16.
    assert!(!reader
        .headers()
        .unwrap()
        .iter()
        .any(|(_, h)| h.dtype == DType::BF16));
    let _ = bf16::ONE;
}

#[test]
fn unsupported_arrays_say_what_and_where() {
    let cases = [
        ("fortran.npy", "Fortran-order"),
        ("big_endian.npy", "big-endian dtype '>f4'"),
        ("object.npy", "object array"),
        ("complex.npy", "dtype '<c8'"),
        ("structured.npy", "structured dtype"),
    ];
    for (file, what) in cases {
        let err = npy(file).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::UnsupportedNpy { .. }), "{file}: {msg}");
        assert!(msg.contains(file), "{file}: {msg}");
        assert!(msg.contains(what), "{file}: {msg}");
    }
}

#[test]
fn broken_files_are_data_length_errors() {
    let cases = [
        ("truncated.npy", 24, 19),
        ("lying.npy", 36, 24),
        ("trailing.npy", 24, 28),
    ];
    for (file, want_expected, want_found) in cases {
        let err = npy(file).unwrap_err();
        match &err {
            Error::DataLength {
                expected, found, ..
            } => assert_eq!((*expected, *found), (want_expected, want_found), "{file}"),
            other => panic!("{file}: {other}"),
        }
        assert!(err.to_string().contains(file), "{err}");
        // The streaming reader finds the same.
        let bytes = std::fs::read(case("npy-formats", file)).unwrap();
        let err2 = optimize_data::npy::read_npy_from(&bytes[..], file.as_ref()).unwrap_err();
        assert!(matches!(err2, Error::DataLength { .. }), "{file}: {err2}");
    }
}

#[test]
fn every_cut_of_an_npz_is_an_error_not_a_panic() {
    let bytes = std::fs::read(case("npy-formats", "compressed.npz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.npz");
    for len in (0..bytes.len()).step_by(37) {
        std::fs::write(&path, &bytes[..len]).unwrap();
        assert!(read_npz(&path).is_err(), "cut at {len} read fine");
    }
    // Flipped bytes: Ok or a named error, never a panic.
    for at in (0..bytes.len()).step_by(53) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&path, &bad).unwrap();
        let _ = read_npz(&path);
    }
}

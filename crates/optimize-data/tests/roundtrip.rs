use std::process::Command;

use optimize_data::{random_tensor, read_npz, write_npy, write_npz, DType, RandomRange};

use crate::util::{case, python};

/// Loads our `out.npz` and `<name>.npy` files in NumPy and compares them with the reference
/// arrays: same dtype, shape and values, and each `.npy` byte-identical to what `np.save`
/// writes for the same array.
const CHECK: &str = r#"
import io, os, sys
import numpy as np
ref_path, out_dir = sys.argv[1], sys.argv[2]
ref = dict(np.load(ref_path))
ref["random_f32"] = np.load(os.path.join(out_dir, "random_f32.ref.npy"))
out = np.load(os.path.join(out_dir, "out.npz"))
assert sorted(out.files) == sorted(ref), (sorted(out.files), sorted(ref))
for name, want in ref.items():
    got = out[name]
    assert got.dtype == want.dtype and got.shape == want.shape, (name, got.dtype, got.shape)
    assert np.array_equal(got, want, equal_nan=True), name
    npy = os.path.join(out_dir, name + ".npy")
    buf = io.BytesIO()
    np.save(buf, want)
    with open(npy, "rb") as f:
        ours = f.read()
    assert ours == buf.getvalue(), (name, ours[:128], buf.getvalue()[:128])
print("ok", len(ref))
"#;

#[test]
fn numpy_loads_what_we_write() {
    let python = python();
    let reference = case("npy-formats", "dtypes.npz");
    let mut arrays = read_npz(&reference).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A larger random array, written by us as the reference too (NumPy checks the values
    // against the .npz copy and the header bytes against np.save).
    let random = random_tensor(
        DType::F32,
        &[17, 5],
        3,
        RandomRange::default_for(DType::F32),
    )
    .unwrap();
    write_npy(dir.path().join("random_f32.ref.npy"), &random).unwrap();
    arrays.push(("random_f32".into(), random));

    for (name, tensor) in &arrays {
        write_npy(dir.path().join(format!("{name}.npy")), tensor).unwrap();
    }
    write_npz(
        dir.path().join("out.npz"),
        arrays.iter().map(|(n, t)| (n.as_str(), t)),
    )
    .unwrap();

    let out = Command::new(&python)
        .arg("-c")
        .arg(CHECK)
        .arg(&reference)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "numpy disagrees:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 15");

    // And we read our own files back unchanged.
    let back = read_npz(dir.path().join("out.npz")).unwrap();
    let mut sorted = arrays.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back, sorted);
}

#[test]
fn writing_does_not_leave_temp_files_or_touch_a_bad_target() {
    let dir = tempfile::tempdir().unwrap();
    let t = random_tensor(DType::I64, &[3], 0, RandomRange::default_for(DType::I64)).unwrap();
    let path = dir.path().join("x.npy");
    write_npy(&path, &t).unwrap();
    write_npy(&path, &t).unwrap(); // replaces
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["x.npy"]);
    // bf16 is refused before anything is created.
    let bf = optimize_data::Tensor::zeros(DType::BF16, vec![2]).unwrap();
    assert!(write_npy(dir.path().join("w.npy"), &bf).is_err());
    assert!(!dir.path().join("w.npy").exists());
    // A folder that does not exist is a Write error naming the file.
    let err = write_npy(dir.path().join("no/such/x.npy"), &t).unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
}

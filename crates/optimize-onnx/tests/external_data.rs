use crate::util::{case, listing, sha256};
use optimize_onnx::proto::tensor_proto::DataLocation;
use optimize_onnx::proto::StringStringEntryProto;
use optimize_onnx::{save, Error, ExternalData, Model, SaveOptions};
use prost::Message;
use std::path::Path;

fn copy_case(dir: &Path) -> std::path::PathBuf {
    for f in ["external.onnx", "external.onnx.data"] {
        std::fs::copy(case("all-fields").join(f), dir.join(f)).unwrap();
    }
    dir.join("external.onnx")
}

#[test]
fn reads_external_data_written_by_onnx() {
    let model = Model::load(case("all-fields/external.onnx")).unwrap();
    let inline = Model::load(case("all-fields/model.onnx")).unwrap();
    assert_eq!(model.external_files().len(), 1);
    assert_eq!(model.external_files()[0].location, "external.onnx.data");
    assert_eq!(model.external_files()[0].bytes, 24); // `w`: 2x3 float32
    let w = |m: &Model| m.proto.graph.as_ref().unwrap().initializer[0].clone();
    assert_eq!(w(&model).raw_data, w(&inline).raw_data);
    assert_eq!(w(&model).data_location, None);
}

#[test]
fn auto_goes_external_only_past_the_limit() {
    let model = Model::load(case("all-fields/model.onnx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inline = save(&model, dir.path().join("a.onnx"), &SaveOptions::default()).unwrap();
    assert!(inline.external_data.is_none());
    // The same switch as at 2 GiB, with the limit lowered so the test stays small.
    let opts = SaveOptions {
        inline_limit: 100,
        size_threshold: 16,
        ..Default::default()
    };
    let ext = save(&model, dir.path().join("b.onnx"), &opts).unwrap();
    let data = ext.external_data.expect("over the limit, so external");
    assert_eq!(data.path, dir.path().join("b.onnx.data"));
    assert_eq!(std::fs::metadata(&data.path).unwrap().len(), data.bytes);
    assert_eq!(
        Model::load(dir.path().join("b.onnx")).unwrap().proto,
        model.proto
    );
    assert_eq!(listing(dir.path()), ["a.onnx", "b.onnx", "b.onnx.data"]);
}

#[test]
fn never_refuses_nothing_small() {
    let model = Model::load(case("all-fields/external.onnx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = SaveOptions {
        external_data: ExternalData::Never,
        ..Default::default()
    };
    let r = save(&model, dir.path().join("inline.onnx"), &opts).unwrap();
    assert!(r.external_data.is_none());
    assert_eq!(listing(dir.path()), ["inline.onnx"]);
}

#[test]
fn refuses_to_overwrite_the_input_or_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let src = copy_case(dir.path());
    let before = (sha256(&src), sha256(&dir.path().join("external.onnx.data")));
    let model = Model::load(&src).unwrap();
    let err = save(&model, &src, &SaveOptions::default()).unwrap_err();
    assert!(matches!(err, Error::WouldOverwriteInput { .. }), "{err}");
    // Saving `external.onnx` elsewhere is fine, but a model named so its .data collides is not.
    let err = save(
        &model,
        dir.path().join("external.onnx"),
        &SaveOptions {
            external_data: ExternalData::Always,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::WouldOverwriteInput { .. }), "{err}");
    assert_eq!(
        before,
        (sha256(&src), sha256(&dir.path().join("external.onnx.data")))
    );
    assert_eq!(listing(dir.path()), ["external.onnx", "external.onnx.data"]);
}

#[test]
fn failed_save_leaves_nothing() {
    let model = Model::load(case("all-fields/model.onnx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = save(
        &model,
        dir.path().join("missing/out.onnx"),
        &SaveOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err}");
    assert!(!err.is_input_error());
    assert!(listing(dir.path()).is_empty());
}

/// Rewrites the external reference of `w` in a copy of external.onnx.
fn with_reference(dir: &Path, entries: &[(&str, &str)]) -> std::path::PathBuf {
    let src = copy_case(dir);
    let bytes = std::fs::read(&src).unwrap();
    let mut proto = optimize_onnx::proto::ModelProto::decode(bytes.as_slice()).unwrap();
    let w = &mut proto.graph.as_mut().unwrap().initializer[0];
    assert_eq!(w.data_location, Some(DataLocation::External as i32));
    w.external_data = entries
        .iter()
        .map(|(k, v)| StringStringEntryProto {
            key: Some(k.to_string()),
            value: Some(v.to_string()),
        })
        .collect();
    std::fs::write(&src, proto.encode_to_vec()).unwrap();
    src
}

#[test]
fn bad_references_are_named_errors() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("location", "../escape.data")],
            "must be a relative path inside the model's folder",
        ),
        (
            &[("location", "/etc/passwd")],
            "must be a relative path inside the model's folder",
        ),
        (&[("location", "nope.data")], "cannot be opened"),
        (
            &[
                ("location", "external.onnx.data"),
                ("offset", "16"),
                ("length", "24"),
            ],
            "runs past the end",
        ),
        (
            &[("location", "external.onnx.data"), ("offset", "x")],
            "bad 'offset' value",
        ),
        (&[("offset", "0")], "no 'location' key"),
        // In range, but not the 24 bytes a 2x3 float32 tensor needs.
        (
            &[("location", "external.onnx.data"), ("length", "20")],
            "should hold 24 bytes but holds 20 bytes",
        ),
    ];
    for (entries, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let src = with_reference(dir.path(), entries);
        let err = Model::load(&src).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(expected) && msg.contains("external.onnx") && msg.contains("'w'"),
            "{entries:?}: {msg}"
        );
        assert!(err.is_input_error());
    }
}

/// A real model past protobuf's 2 GiB limit: `Auto` must write external data, and the result
/// must load back. Needs ~5 GB of memory and 2.2 GB of disk, so it runs on request:
/// `cargo test -p optimize-onnx --release -- --ignored two_gib`.
#[test]
#[ignore = "needs ~5 GB of memory and 2.2 GB of disk: cargo test -p optimize-onnx --release -- --ignored two_gib"]
fn two_gib_model_goes_external_automatically() {
    use optimize_onnx::proto::{GraphProto, NodeProto, TensorProto};
    let n: usize = 2200 * 1024 * 1024 / 4; // 2.2 GiB of float32 in one initializer
    let mut raw = vec![0u8; n * 4];
    for (i, chunk) in raw.chunks_mut(4096).enumerate() {
        chunk[0] = i as u8;
    }
    let big = TensorProto {
        name: Some("big".into()),
        dims: vec![n as i64],
        data_type: Some(1),
        raw_data: Some(raw.into()),
        ..Default::default()
    };
    let graph = GraphProto {
        name: Some("g".into()),
        node: vec![NodeProto {
            op_type: Some("Identity".into()),
            input: vec!["big".into()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        initializer: vec![big],
        output: vec![optimize_onnx::proto::ValueInfoProto {
            name: Some("y".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let proto = optimize_onnx::build::model(graph, 17);
    let model = Model::from_proto(proto);
    let dir = tempfile::tempdir().unwrap();
    let report = save(&model, dir.path().join("big.onnx"), &SaveOptions::default()).unwrap();
    let ext = report
        .external_data
        .as_ref()
        .expect("over 2 GiB: external data");
    assert_eq!(ext.bytes, (n * 4) as u64);
    assert!(report.bytes < 1024 * 1024, "{report:?}");
    let back = Model::load(dir.path().join("big.onnx")).unwrap();
    assert_eq!(back.proto, model.proto);
    // Never-external must refuse rather than write a file protobuf cannot read.
    let opts = SaveOptions {
        external_data: ExternalData::Never,
        ..Default::default()
    };
    let err = save(&model, dir.path().join("inline.onnx"), &opts).unwrap_err();
    assert!(err.to_string().contains("2 GiB"), "{err}");
    assert_eq!(listing(dir.path()), ["big.onnx", "big.onnx.data"]);
}

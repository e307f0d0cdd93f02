use crate::util::{assert_same_model, case, root};
use optimize_onnx::{save, ExternalData, Model, SaveOptions};

#[test]
fn every_field_survives_load_and_save() {
    let src = case("all-fields/model.onnx");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.onnx");
    let model = Model::load(&src).unwrap();
    save(&model, &out, &SaveOptions::default()).unwrap();
    assert_same_model(&src, &out, true);
    // And our own decoder agrees with itself.
    assert_eq!(Model::load(&out).unwrap().proto, model.proto);
}

#[test]
fn every_field_survives_external_data_round_trip() {
    let src = case("all-fields/model.onnx");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ext.onnx");
    let model = Model::load(&src).unwrap();
    let opts = SaveOptions {
        external_data: ExternalData::Always,
        size_threshold: 1,
        ..Default::default()
    };
    let report = save(&model, &out, &opts).unwrap();
    let ext = report.external_data.expect("external data written");
    // Only `w` holds raw_data; tensors in typed fields (float_data, int64_data) stay inline, as
    // onnx's own convert_model_to_external_data does.
    assert_eq!(ext.tensors, 1, "{ext:?}");
    assert_same_model(&src, &out, true);
    assert_eq!(Model::load(&out).unwrap().proto, model.proto);
}

#[test]
fn committed_models_survive_round_trip() {
    for name in ["digits-mlp.onnx", "digits-cnn.onnx"] {
        let src = root().join("models").join(name);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        save(&Model::load(&src).unwrap(), &out, &SaveOptions::default()).unwrap();
        assert_same_model(&src, &out, true);
    }
}

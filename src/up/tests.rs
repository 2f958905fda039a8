use super::*;
use crate::modes::{jupyter, ModeJson};

fn outcome(mode: Option<ModeJson>) -> serde_json::Value {
    serde_json::to_value(Outcome {
        action: Action::Created,
        base_image: "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime".into(),
        container: "ptenv-p-1234-jupyter".into(),
        gpu: false,
        image: "ptenv/pytorch-abc".into(),
        ports: vec![],
        mode,
        code: 0,
    })
    .unwrap()
}

#[test]
fn the_json_document_has_the_container_and_the_mode_s_fields_at_the_top() {
    let ready = ModeJson::Jupyter(jupyter::Ready {
        port: 8889,
        token: "t0k3n".into(),
        url: "http://127.0.0.1:8889/lab?token=t0k3n".into(),
        forward: None,
    });
    let v = outcome(Some(ready));
    assert_eq!(v["action"], "created");
    assert_eq!(v["container"], "ptenv-p-1234-jupyter");
    assert_eq!(v["port"], 8889);
    assert_eq!(v["token"], "t0k3n");
    assert_eq!(v["url"], "http://127.0.0.1:8889/lab?token=t0k3n");
    assert!(v.get("code").is_none() && v.get("mode").is_none(), "{v}");
    assert!(
        v.get("forward").is_none(),
        "only for a server ptenv cannot forward from: {v}"
    );
    let shell = outcome(None);
    let keys: Vec<&String> = shell.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["action", "base_image", "container", "gpu", "image", "ports"]
    );
}

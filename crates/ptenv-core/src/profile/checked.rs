//! Deserializing a scalar through a checking parser, so a bad value is an error at its place
//! in the file.

use super::*;

/// A check's error, placed by [`checked`].
pub(super) fn bad(message: impl fmt::Display) -> serde_yaml::Error {
    <serde_yaml::Error as de::Error>::custom(message)
}

/// Deserialize one value of a profile file through `check`, so that its errors carry the
/// place of that value: serde_yaml marks an error with the position of the node whose visitor
/// raised it, and a check that ran after `Value::deserialize` returned would be marked at the
/// enclosing map instead (the file's first key, for top-level settings).
pub(super) fn checked<'de, D, T>(
    d: D,
    check: impl FnOnce(serde_yaml::Value) -> std::result::Result<T, serde_yaml::Error>,
) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    d.deserialize_any(Checked(check, std::marker::PhantomData))
}

pub(super) struct Checked<F, T>(F, std::marker::PhantomData<T>);

impl<F, T> Checked<F, T>
where
    F: FnOnce(serde_yaml::Value) -> std::result::Result<T, serde_yaml::Error>,
{
    fn run<E: de::Error>(self, v: serde_yaml::Value) -> std::result::Result<T, E> {
        (self.0)(v).map_err(|e| E::custom(e.to_string()))
    }
}

impl<'de, F, T> de::Visitor<'de> for Checked<F, T>
where
    F: FnOnce(serde_yaml::Value) -> std::result::Result<T, serde_yaml::Error>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Number(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::String(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<T, E> {
        self.run(serde_yaml::Value::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<T, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_yaml::Value>()? {
            items.push(item);
        }
        self.run(serde_yaml::Value::Sequence(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<T, A::Error> {
        let mut m = serde_yaml::Mapping::new();
        while let Some((k, v)) = map.next_entry::<serde_yaml::Value, serde_yaml::Value>()? {
            m.insert(k, v);
        }
        self.run(serde_yaml::Value::Mapping(m))
    }
}

pub(super) fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

//! A workload token's payload read in one strict pass before its signature is checked: the
//! registered claims typed, a repeated member refused, and only the claims some rule reads kept
//! (by top-level name); what routes a token to its policy.

use super::*;

/// The registered claims of a workload token.
#[derive(Debug, Default)]
pub(super) struct Registered {
    pub(super) iss: Option<String>,
    pub(super) sub: Option<String>,
    pub(super) aud: Option<Audience>,
    pub(super) exp: Option<u64>,
    pub(super) nbf: Option<u64>,
    pub(super) iat: Option<u64>,
    pub(super) jti: Option<String>,
}

/// A workload token's payload read in one pass: the registered claims typed (a repeated member is
/// refused, as everywhere in the engine), and the claims some rule reads, by top-level name, as
/// JSON; every other member is skipped without being kept. Read before the signature only to find
/// the token's policy (by `iss`); trusted only once the signature verifies.
#[derive(Debug)]
pub struct WorkloadPayload {
    pub(super) reg: Registered,
    pub(super) claims: Value,
}

/// A JSON object key, borrowed from the text when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a payload keeping the `needed` claims.
struct PayloadSeed<'n>(&'n [String]);

impl<'de> serde::de::DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = WorkloadPayload;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<WorkloadPayload, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PayloadSeed<'_> {
    type Value = WorkloadPayload;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<WorkloadPayload, A::Error> {
        use serde::de::Error as _;
        let mut reg = Registered::default();
        let mut claims = serde_json::Map::new();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let needed = self.0.iter().any(|n| *n == *key);
            let registered = matches!(&*key, "iss" | "sub" | "aud" | "exp" | "nbf" | "iat" | "jti");
            if (needed || registered) && !seen.insert(key.clone().into_owned()) {
                return Err(A::Error::custom(format!("duplicate field `{key}`")));
            }
            if !needed && !registered {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value_seed(StrictValue)?;
            match &*key {
                "iss" => reg.iss = typed(&key, &value)?,
                "sub" => reg.sub = typed(&key, &value)?,
                "jti" => reg.jti = typed(&key, &value)?,
                "aud" => reg.aud = typed(&key, &value)?,
                "exp" => reg.exp = date(&key, &value)?,
                "nbf" => reg.nbf = date(&key, &value)?,
                "iat" => reg.iat = date(&key, &value)?,
                _ => {}
            }
            if needed {
                claims.insert(key.into_owned(), value);
            }
        }
        Ok(WorkloadPayload { reg, claims: Value::Object(claims) })
    }
}

/// A JSON value read like [`Value`], except that a member repeated in any object is an error
/// (serde_json's `Value` keeps the last one silently).
pub(crate) struct StrictValue;

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error as _;
        let mut out = serde_json::Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if out.contains_key(&*key) {
                return Err(A::Error::custom(format!("duplicate field `{key}`")));
            }
            let value = map.next_value_seed(StrictValue)?;
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }
}

/// Reads JSON text with [`StrictValue`], naming the line and column of an error.
pub(super) fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A registered claim of type `T`, or an error naming it.
pub(super) fn typed<'v, T: Deserialize<'v>, E: serde::de::Error>(key: &str, v: &'v Value) -> Result<T, E> {
    T::deserialize(v).map_err(|e| E::custom(format!("{key}: {e}")))
}

/// A NumericDate claim: whole seconds up to [`crate::MAX_DATE`].
pub(super) fn date<E: serde::de::Error>(key: &str, v: &Value) -> Result<Option<u64>, E> {
    match typed::<Option<u64>, E>(key, v)? {
        Some(n) if n > crate::MAX_DATE => Err(E::custom(format!("{key}: date {n} is after year 9999"))),
        n => Ok(n),
    }
}

impl WorkloadPayload {
    /// Reads a decoded payload, keeping the `needed` claims (sorted or not).
    ///
    /// # Errors
    /// [`Reason::Malformed`]: not a UTF-8 JSON object, a repeated registered or needed claim, a
    /// registered claim of the wrong type.
    pub fn parse(bytes: &[u8], needed: &[String]) -> Result<Self, Reason> {
        use serde::de::DeserializeSeed as _;
        let malformed = |why: String| Reason::Malformed(crate::jws::MalformedToken::Json(Part::Payload, why));
        if bytes.first() != Some(&b'{') {
            return Err(malformed("not an object".into()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| crate::jws::MalformedToken::NotUtf8(Part::Payload))?;
        let mut de = serde_json::Deserializer::from_str(text);
        let payload = PayloadSeed(needed).deserialize(&mut de).map_err(|e| malformed(e.to_string()))?;
        de.end().map_err(|e| malformed(e.to_string()))?;
        Ok(payload)
    }

    /// The `iss` the payload claims.
    pub fn iss(&self) -> Option<&str> {
        self.reg.iss.as_deref()
    }
}

/// The top-level claim names the rules read: each condition's and template's claim, and for a
/// nested one (`kubernetes.io/namespace`) also its first segment.
pub(super) fn needed_claims<'r>(rules: impl Iterator<Item = &'r TrustRule>) -> Vec<String> {
    let mut names = Vec::new();
    for rule in rules {
        let paths = rule.when.iter().chain(&rule.unless).map(|c| c.claim.as_str());
        for path in paths.chain(rule.grants.iter().flat_map(ScopeTemplate::claims)) {
            names.push(path.to_owned());
            if let Some((first, _)) = path.split_once('/') {
                names.push(first.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

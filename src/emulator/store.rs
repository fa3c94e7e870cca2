//! The keys the emulator holds: per organization, with their secrets, in creation order; and
//! how a validated body becomes a key or updates one.

use crate::util::{clock, noise};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::SystemTime;

#[derive(Default)]
pub(super) struct Store {
    /// Keys by organization, then by id.
    organizations: HashMap<String, HashMap<String, Stored>>,
    /// The next creation number: listings follow creation order.
    next: u64,
}

struct Stored {
    created: u64,
    /// The key as the API answers it, `secretKey` included.
    key: Map<String, Value>,
}

impl Store {
    pub(super) fn get(&self, organization: &str, id: &str) -> Option<&Map<String, Value>> {
        self.organizations
            .get(organization)?
            .get(id)
            .map(|stored| &stored.key)
    }

    /// Stores a new key under its `id`.
    pub(super) fn insert(&mut self, organization: &str, key: Map<String, Value>) {
        let id = key
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let created = self.next;
        self.next += 1;
        self.organizations
            .entry(organization.to_owned())
            .or_default()
            .insert(id, Stored { created, key });
    }

    /// PUT: updates the key at `id` from `fields`, or creates it there. Answers whether it was
    /// created, and the key.
    pub(super) fn put(
        &mut self,
        organization: &str,
        id: &str,
        fields: &Map<String, Value>,
        href: &str,
    ) -> (bool, Map<String, Value>) {
        if let Some(stored) = self
            .organizations
            .get_mut(organization)
            .and_then(|keys| keys.get_mut(id))
        {
            let now = json!(clock::rfc3339(SystemTime::now()));
            for (name, value) in described(fields) {
                stored.key.insert(name.into(), value);
            }
            stored.key.insert("updatedTime".into(), now);
            return (false, stored.key.clone());
        }
        let key = new_key(id, fields, href);
        self.insert(organization, key.clone());
        (true, key)
    }

    /// Removes the key; false when there was none.
    pub(super) fn remove(&mut self, organization: &str, id: &str) -> bool {
        self.organizations
            .get_mut(organization)
            .is_some_and(|keys| keys.remove(id).is_some())
    }

    /// The organization's keys, in creation order.
    pub(super) fn list(&self, organization: &str) -> Vec<Map<String, Value>> {
        let mut keys: Vec<&Stored> = self
            .organizations
            .get(organization)
            .map(|keys| keys.values().collect())
            .unwrap_or_default();
        keys.sort_by_key(|stored| stored.created);
        keys.into_iter().map(|stored| stored.key.clone()).collect()
    }

    /// Keys held, all organizations.
    pub(super) fn len(&self) -> usize {
        self.organizations.values().map(HashMap::len).sum()
    }

    /// Every key held, all organizations, in creation order, without its secret: what a test
    /// may print.
    pub(super) fn without_secrets(&self) -> Vec<Value> {
        let mut keys: Vec<&Stored> = self
            .organizations
            .values()
            .flat_map(|k| k.values())
            .collect();
        keys.sort_by_key(|stored| stored.created);
        keys.into_iter()
            .map(|stored| {
                let mut key = stored.key.clone();
                key.remove("secretKey");
                Value::Object(key)
            })
            .collect()
    }
}

/// A new key at `id` from a validated body, with a fresh secret. Read-only and unknown body
/// fields are ignored, as the API ignores them.
pub(super) fn new_key(id: &str, fields: &Map<String, Value>, href: &str) -> Map<String, Value> {
    let now = json!(clock::rfc3339(SystemTime::now()));
    let mut key = Map::new();
    key.insert("id".into(), json!(id));
    for (name, value) in described(fields) {
        key.insert(name.into(), value);
    }
    key.insert("apiUser".into(), json!("emulator"));
    key.insert("createdTime".into(), now.clone());
    key.insert("updatedTime".into(), now);
    key.insert("_links".into(), json!([{ "href": href, "rel": "self" }]));
    let secret = format!(
        "sk_sandbox_{}",
        noise::string(b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
    );
    key.insert("secretKey".into(), json!(secret));
    key
}

/// A new API-key id, `api_key_` and 26 characters as the API's.
pub(super) fn new_id() -> String {
    format!(
        "api_key_{}",
        noise::string(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)
    )
}

/// The fields a body sets, with the API's defaults for those it leaves out: a PUT replaces
/// them all.
fn described(fields: &Map<String, Value>) -> [(&'static str, Value); 4] {
    let given = |name: &str, default: Value| fields.get(name).cloned().unwrap_or(default);
    [
        ("description", given("description", Value::Null)),
        ("type", given("type", json!("secret"))),
        ("acl", given("acl", json!([]))),
        ("allowedIps", given("allowedIps", Value::Null)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(description: &str) -> Map<String, Value> {
        json!({ "description": description })
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn organizations_are_apart_and_put_keeps_what_is_the_keys_own() {
        let mut store = Store::default();
        let (created, first) = store.put("a", "k1", &body("one"), "/api-keys/k1");
        assert!(created);
        store.insert("b", new_key("k2", &body("two"), "/api-keys/k2"));
        assert!(store.get("b", "k1").is_none());
        assert_eq!(store.len(), 2);

        let (created, updated) = store.put("a", "k1", &body("uno"), "/elsewhere");
        assert!(!created);
        assert_eq!(updated["description"], "uno");
        for kept in ["id", "secretKey", "createdTime", "apiUser", "_links"] {
            assert_eq!(updated[kept], first[kept], "{kept}");
        }
        assert_eq!(store.list("a").len(), 1);
        assert!(store.without_secrets()[0].get("secretKey").is_none());
        assert!(store.remove("a", "k1") && !store.remove("a", "k1"));
        assert_eq!(store.len(), 1);
    }
}

//! [`ExtFields`]: the string fields of a command header, shared by the command and the typed
//! headers.

use std::collections::HashMap;
use std::fmt;

/// The `extFields` of a command: string keys to string values, in insertion order.
///
/// Order is kept so that a decoded command re-encodes to the same bytes; lookups are linear,
/// which beats hashing for the dozen fields a header carries. Building from many fields at
/// once ([`from_pairs`](Self::from_pairs), what the decoders use) is linear in their number,
/// so a peer cannot make decoding quadratic with a huge header.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtFields(Vec<(String, String)>);

impl ExtFields {
    /// An empty set of fields.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty set with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Fields in the given order; when a key repeats, its first position keeps the last value
    /// (as repeated [`insert`](Self::insert)s, and as a JSON map keeps the last value).
    /// Linear in the number of fields.
    pub fn from_pairs(mut pairs: Vec<(String, String)>) -> Self {
        /// Below this, scanning beats hashing (and allocates nothing).
        const SCAN_LEN: usize = 16;
        if pairs.len() <= SCAN_LEN {
            let mut fields = Self::with_capacity(pairs.len());
            for (k, v) in pairs {
                fields.insert(k, v);
            }
            return fields;
        }
        // For each repeated key, the index of its first occurrence.
        let first_of: Vec<Option<usize>> = {
            let mut seen: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
            pairs
                .iter()
                .enumerate()
                .map(|(i, (k, _))| match seen.entry(k.as_str()) {
                    std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(i);
                        None
                    }
                })
                .collect()
        };
        if first_of.iter().all(Option::is_none) {
            return Self(pairs);
        }
        for (i, first) in first_of.iter().enumerate() {
            if let Some(first) = *first {
                pairs[first].1 = std::mem::take(&mut pairs[i].1);
            }
        }
        let mut i = 0;
        pairs.retain(|_| {
            let keep = first_of[i].is_none();
            i += 1;
            keep
        });
        Self(pairs)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an existing value in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_pairs(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_fields_keep_order_and_replace_in_place() {
        let mut ext: ExtFields = [("b", "1"), ("a", "2")].into_iter().collect();
        ext.insert("b", "3");
        assert_eq!(ext.iter().collect::<Vec<_>>(), vec![("b", "3"), ("a", "2")]);
        assert_eq!(ext.remove("b").as_deref(), Some("3"));
        assert_eq!(ext.get("a"), Some("2"));
        assert_eq!(ext.len(), 1);
    }

    #[test]
    fn from_pairs_matches_repeated_inserts_at_every_size() {
        for n in [0, 1, 5, 16, 17, 100, 1000] {
            // Keys repeat every 7 fields, so both paths see duplicates.
            let pairs: Vec<(String, String)> =
                (0..n).map(|i| (format!("k{}", i % 7), format!("v{i}"))).collect();
            let mut by_insert = ExtFields::new();
            for (k, v) in pairs.clone() {
                by_insert.insert(k, v);
            }
            assert_eq!(ExtFields::from_pairs(pairs), by_insert, "n = {n}");
        }
        let unique: Vec<(String, String)> =
            (0..100).map(|i| (format!("k{i}"), i.to_string())).collect();
        assert_eq!(ExtFields::from_pairs(unique).len(), 100);
    }
}

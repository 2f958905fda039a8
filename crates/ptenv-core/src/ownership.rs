//! Whose environment a container is, and which containers a `ptenv down` may take: the
//! project's own by default, every project's only when asked, another user's only when that
//! user is named (docs/gpus.md §5).

use std::collections::HashMap;

use crate::project::{LABEL_OWNER, LABEL_USER};

/// The host user a container's labels name: `dev.ptenv.user`, else the uid of
/// `dev.ptenv.owner` (`uid N`, from ptenv versions before the user label), else `None`
/// (containers made before owners were recorded).
pub fn owner(labels: &HashMap<String, String>) -> Option<String> {
    if let Some(u) = labels.get(LABEL_USER).filter(|u| !u.is_empty()) {
        return Some(u.clone());
    }
    let uid = labels.get(LABEL_OWNER)?.split(':').next()?;
    uid.parse::<u32>().ok().map(|u| format!("uid {u}"))
}

/// Who runs this `down` and whose environments it may take.
pub struct Who<'a> {
    /// This user's name (as [`owner`] would record it).
    pub me: &'a str,
    /// This user's uid, to recognise containers that recorded only the uid.
    pub my_uid: u32,
    /// The users named with `--user`.
    pub named: &'a [String],
}

impl Who<'_> {
    /// Whether a container of `owner` may be removed: it is this user's, or of a named user,
    /// or it recorded no owner (made before ptenv recorded them, by this project's ptenv).
    pub fn may_remove(&self, owner: Option<&str>) -> bool {
        match owner {
            None => true,
            Some(o) => {
                o == self.me
                    || o == format!("uid {}", self.my_uid)
                    || self.named.iter().any(|n| n == o)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_owner_is_the_user_label_then_the_uid() {
        assert_eq!(
            owner(&labels(&[(LABEL_USER, "ana"), (LABEL_OWNER, "1000:/d")])).as_deref(),
            Some("ana")
        );
        assert_eq!(
            owner(&labels(&[(
                LABEL_OWNER,
                "1001:/home/bo/.local/share/ptenv"
            )]))
            .as_deref(),
            Some("uid 1001")
        );
        assert_eq!(owner(&labels(&[])), None);
    }

    #[test]
    fn another_users_environment_needs_their_name() {
        let named = vec!["bo".to_string()];
        let ana = Who {
            me: "ana",
            my_uid: 1000,
            named: &[],
        };
        assert!(ana.may_remove(Some("ana")));
        assert!(ana.may_remove(Some("uid 1000")));
        assert!(ana.may_remove(None));
        assert!(!ana.may_remove(Some("bo")));
        let ana_names_bo = Who {
            named: &named,
            ..ana
        };
        assert!(ana_names_bo.may_remove(Some("bo")));
        assert!(!ana_names_bo.may_remove(Some("cy")));
    }
}

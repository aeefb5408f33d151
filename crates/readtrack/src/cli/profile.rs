//! The profile: which server, and the token to use there, in `$READTRACK_HOME`
//! (default: the platform's data directory), readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The client's home: the profile and the offline store.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `$READTRACK_HOME`, else `<data dir>/readtrack`.
    pub fn resolve() -> anyhow::Result<Self> {
        let dir = match std::env::var_os("READTRACK_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match dirs::data_dir() {
                Some(data) => data.join("readtrack"),
                None => bail!(
                    "cannot tell where to keep the profile: set READTRACK_HOME to a directory"
                ),
            },
        };
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The profile file.
    pub fn profile_path(&self) -> PathBuf {
        self.dir.join("profile.json")
    }

    /// The offline store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join("offline.db")
    }

    /// Creates the directory, private to its owner.
    pub fn create(&self) -> anyhow::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))
    }
}

/// A signed-in profile.
#[derive(Clone, Serialize, Deserialize)]
pub struct Profile {
    /// The server's base URL.
    pub server: String,
    /// The bearer token (a secret).
    pub token: String,
    /// Who signed in.
    pub member_id: String,
    /// Their email.
    pub email: String,
    /// Their name.
    #[serde(default)]
    pub name: String,
    /// Their organisation.
    #[serde(default)]
    pub org_id: String,
    /// When the token stops working.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl std::fmt::Debug for Profile {
    // By hand: the token must never be printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("server", &self.server)
            .field("member_id", &self.member_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl Profile {
    /// Who owns the offline store: one member of one organisation.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.org_id, self.member_id)
    }

    /// Loads the profile, if someone signed in.
    pub fn load(home: &Home) -> anyhow::Result<Option<Self>> {
        let path = home.profile_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let profile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; sign in again with `readtrack login`",
                path.display()
            )
        })?;
        Ok(Some(profile))
    }

    /// Saves the profile: written to a private temporary file, then renamed over the
    /// old one, so a crash leaves either the old or the new profile, never half.
    pub fn save(&self, home: &Home) -> anyhow::Result<PathBuf> {
        home.create()?;
        let path = home.profile_path();
        let tmp = home
            .dir()
            .join(format!(".profile.json.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(self).context("cannot encode the profile")?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let write = (|| -> std::io::Result<()> {
            let mut file = options.open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            Ok(())
        })();
        write.with_context(|| format!("cannot write {}", tmp.display()))?;
        #[cfg(unix)]
        {
            // `mode` applies only when the file is created; make sure of it anyway.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", tmp.display()))?;
        }
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            server: "http://127.0.0.1:1".into(),
            token: "rt_secret".into(),
            member_id: "7".into(),
            email: "a@b.example".into(),
            name: "A".into(),
            org_id: "1".into(),
            expires_at: None,
        }
    }

    #[test]
    fn a_saved_profile_is_private_and_loads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = Home {
            dir: dir.path().join("home"),
        };
        let path = profile().save(&home).expect("saved");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = Profile::load(&home).expect("readable").expect("present");
        assert_eq!(loaded.token, "rt_secret");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        assert!(!format!("{:?}", profile()).contains("rt_secret"));
    }
}

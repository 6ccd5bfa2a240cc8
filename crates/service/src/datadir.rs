//! Where things live in a data directory.

use std::path::{Path, PathBuf};

/// The layout of a data directory created by `oegd-gateway init`.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn database(&self) -> PathBuf {
        self.root.join("gateway.db")
    }
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.pki().join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.pki().join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.pki().join("server.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.pki().join("server.key")
    }
    /// The certificate revocation list the server re-reads when it changes.
    pub fn crl(&self) -> PathBuf {
        self.pki().join("crl.pem")
    }
}

/// Writes a file atomically (temporary file, fsync, rename), so a reader such as the
/// server's CRL watcher never sees half a file. `private` files get mode 0600.
pub fn write_atomically(path: &Path, contents: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(if private { 0o600 } else { 0o644 });
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

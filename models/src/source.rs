//! Where model files come from: a local folder, or the Hugging Face hub
//! through hf-hub's cache (looked at first) and its downloader.

use std::path::{Path, PathBuf};

pub use hf_hub::Cache;
use hf_hub::{Repo, RepoType};

use crate::error::{Error, Result};

/// The default model: small, fast, and a good general English encoder.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// What the user asked for with `--model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A Hugging Face repo id, with an optional revision (branch, tag or commit).
    Hub {
        /// Repo id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
        id: String,
        /// Branch, tag or commit; `None` is `main`.
        revision: Option<String>,
    },
    /// A folder holding `config.json`, `tokenizer.json` and the weights.
    Local(PathBuf),
}

impl ModelSpec {
    /// An existing folder is a local model; anything else is a hub repo id.
    /// `./x`, `/x` and `~/x`-style paths that do not exist are still taken as
    /// paths, so a typo gives "no such folder" rather than a download attempt.
    pub fn parse(spec: &str, revision: Option<&str>) -> Self {
        let path = Path::new(spec);
        let looks_like_path = spec.starts_with('.') || spec.starts_with('/') || spec.contains('\\');
        if path.is_dir() || looks_like_path {
            ModelSpec::Local(path.to_path_buf())
        } else {
            ModelSpec::Hub {
                id: spec.to_string(),
                revision: revision.map(str::to_string),
            }
        }
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec::Hub {
            id: DEFAULT_MODEL.to_string(),
            revision: None,
        }
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSpec::Hub { id, revision: None } => write!(f, "{id}"),
            ModelSpec::Hub {
                id,
                revision: Some(r),
            } => write!(f, "{id}@{r}"),
            ModelSpec::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The weights file, by format.
#[derive(Debug, Clone)]
pub enum Weights {
    /// A `model.safetensors` file (memory-mapped).
    Safetensors(PathBuf),
    /// A `pytorch_model.bin` file (read into memory).
    PyTorch(PathBuf),
}

/// Paths of every file a model needs, resolved on local disk.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// Model id as recorded in an index: the repo id, or the local folder.
    pub id: String,
    /// Commit hash for hub models (the snapshot folder), `local` otherwise.
    pub revision: String,
    /// The model's `config.json` (architecture and sizes).
    pub config: PathBuf,
    /// The tokenizer (`tokenizer.json`).
    pub tokenizer: PathBuf,
    /// The weights file.
    pub weights: Weights,
    /// `modules.json` of a sentence-transformers model, if any.
    pub modules: Option<PathBuf>,
    /// `sentence_bert_config.json` (the maximum sequence length), if any.
    pub sentence_bert_config: Option<PathBuf>,
    /// The pooling config, found through `modules.json` (usually `1_Pooling/`).
    pub pooling_config: Option<PathBuf>,
    /// `config_sentence_transformers.json` (the query and document
    /// prompts), if any.
    pub st_config: Option<PathBuf>,
}

/// A full commit hash (40 hex digits), as a snapshot folder is named.
fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Is `HF_HUB_OFFLINE` set to a true value?
fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// Why a model file could not be had.
enum Lookup {
    /// The source has no such file.
    Missing(String),
    /// The source cannot be reached (offline, network error) and the file is
    /// not cached.
    Unreachable(String),
}

/// Looks a file up in one place: the local folder, or the hub (cache first).
trait FileSource {
    /// `Ok(None)` when the file does not exist there; `Err` when the source
    /// itself cannot be reached and the file is not cached.
    fn fetch(&self, file: &str) -> Result<Option<PathBuf>, String>;
}

struct LocalDir(PathBuf);

impl FileSource for LocalDir {
    fn fetch(&self, file: &str) -> Result<Option<PathBuf>, String> {
        let p = self.0.join(file);
        Ok(p.is_file().then_some(p))
    }
}

struct Hub {
    cache: Cache,
    /// The snapshot folder of a revision given as a commit hash (what an
    /// index records): looked at first, so an index reopens the exact
    /// files that made its vectors, whatever the branches point at now.
    pinned: Option<PathBuf>,
    repo: Repo,
    api: Option<hf_hub::api::sync::ApiRepo>,
    offline: bool,
}

impl FileSource for Hub {
    fn fetch(&self, file: &str) -> Result<Option<PathBuf>, String> {
        if let Some(p) = self.pinned.as_ref().map(|dir| dir.join(file)) {
            if p.is_file() {
                return Ok(Some(p));
            }
        }
        if let Some(p) = self.cache.repo(self.repo.clone()).get(file) {
            return Ok(Some(p));
        }
        if self.offline {
            return Err("HF_HUB_OFFLINE is set".into());
        }
        let Some(api) = &self.api else {
            return Err("the hub client could not be created".into());
        };
        match api.get(file) {
            Ok(p) => Ok(Some(p)),
            // A 404 means the repo simply lacks this (optional) file.
            Err(hf_hub::api::sync::ApiError::RequestError(e))
                if matches!(*e, ureq::Error::Status(404, _)) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl ModelFiles {
    /// Find every file of `spec`, in the cache or folder, downloading what is
    /// missing when that is allowed.
    pub fn resolve(spec: &ModelSpec) -> Result<Self> {
        Self::resolve_with(spec, &Cache::from_env(), hub_offline())
    }

    /// [`ModelFiles::resolve`] with an explicit hub cache and offline switch
    /// instead of `HF_HOME` and `HF_HUB_OFFLINE`.
    pub fn resolve_with(spec: &ModelSpec, cache: &Cache, offline: bool) -> Result<Self> {
        match spec {
            ModelSpec::Local(dir) => {
                if !dir.is_dir() {
                    return Err(Error::Io {
                        path: dir.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no such model folder",
                        ),
                    });
                }
                let src = LocalDir(dir.clone());
                // Recorded absolute, so the index reopens from any folder.
                let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                Self::collect(
                    &src,
                    absolute.display().to_string(),
                    crate::embedder::LOCAL_REVISION.into(),
                    |miss| match miss {
                        Lookup::Missing(file) => Error::MissingFile {
                            path: dir.clone(),
                            file,
                        },
                        Lookup::Unreachable(reason) => Error::BadFile {
                            path: dir.clone(),
                            reason,
                        },
                    },
                )
            }
            ModelSpec::Hub { id, revision } => {
                let cache = cache.clone();
                let repo = match revision {
                    Some(r) => Repo::with_revision(id.clone(), RepoType::Model, r.clone()),
                    None => Repo::new(id.clone(), RepoType::Model),
                };
                let api = if offline {
                    None
                } else {
                    hf_hub::api::sync::ApiBuilder::from_cache(cache.clone())
                        .with_progress(false)
                        .build()
                        .ok()
                        .map(|api| api.repo(repo.clone()))
                };
                let cache_dir = cache.path().clone();
                let pinned = revision
                    .as_deref()
                    .filter(|r| is_commit(r))
                    .map(|r| cache_dir.join(repo.folder_name()).join("snapshots").join(r));
                let src = Hub {
                    cache,
                    pinned,
                    repo,
                    api,
                    offline,
                };
                let mut files =
                    Self::collect(&src, id.clone(), String::new(), |miss| Error::NotFound {
                        model: spec.to_string(),
                        cache: cache_dir.clone(),
                        reason: match miss {
                            Lookup::Missing(file) => format!("the repo has no {file}"),
                            Lookup::Unreachable(reason) => reason,
                        },
                    })?;
                // Cached files live in snapshots/<commit>/: that commit is
                // exactly what produced the vectors.
                files.revision = files
                    .config
                    .parent()
                    .and_then(Path::file_name)
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| revision.clone().unwrap_or_else(|| "main".into()));
                Ok(files)
            }
        }
    }

    fn collect(
        src: &dyn FileSource,
        id: String,
        revision: String,
        fail: impl Fn(Lookup) -> Error,
    ) -> Result<Self> {
        let fetch = |file: &str| src.fetch(file).map_err(|r| fail(Lookup::Unreachable(r)));
        let missing = |file: &str| fail(Lookup::Missing(file.to_string()));
        let required = |file: &str| fetch(file)?.ok_or_else(|| missing(file));
        let config = required("config.json")?;
        let tokenizer = required("tokenizer.json")?;
        let weights = match fetch("model.safetensors")? {
            Some(p) => Weights::Safetensors(p),
            None => match fetch("pytorch_model.bin")? {
                Some(p) => Weights::PyTorch(p),
                None => return Err(missing("model.safetensors (or pytorch_model.bin)")),
            },
        };
        let modules = fetch("modules.json")?;
        let sentence_bert_config = fetch("sentence_bert_config.json")?;
        let pooling_dir = match &modules {
            Some(path) => crate::config::pooling_dir(path)?,
            None => None,
        };
        let pooling_config = match pooling_dir {
            Some(dir) if dir.is_empty() => fetch("config.json")?,
            Some(dir) => fetch(&format!("{dir}/config.json"))?,
            None => fetch("1_Pooling/config.json")?,
        };
        // Optional, and not in caches filled before prompts were read:
        // offline and uncached is "none".
        let st_config = src
            .fetch("config_sentence_transformers.json")
            .ok()
            .flatten();
        Ok(ModelFiles {
            id,
            revision,
            config,
            tokenizer,
            weights,
            modules,
            sentence_bert_config,
            pooling_config,
            st_config,
        })
    }
}

//! Where a lake's files live: a local folder, or an S3 prefix
//! (`s3://bucket/prefix`). Every lake module reads and writes through this
//! one set of operations, so the commit log, the Delta logs, compaction and
//! vacuum are one code path for both; only what S3 cannot do differs:
//!
//! - *replace atomically*: a local file is written aside and renamed in;
//!   an S3 PUT is atomic by itself;
//! - *create only if absent* (a commit's version, won by one writer): a
//!   local file is linked into place (a link fails if the name is taken);
//!   on S3 the PUT carries `If-None-Match: *` (S3's conditional writes, so
//!   no DynamoDB table is needed);
//! - *place a staged file*: renamed into its folder locally, uploaded to S3
//!   (in parts past 10 MiB).
//!
//! S3 calls run on a small runtime of their own, so the lake's synchronous
//! code can wait on them from anywhere, inside another runtime's task too.
//! Credentials and region come from the AWS SDK's chain (environment,
//! profiles, SSO, web identity, instance roles); `AWS_ENDPOINT_URL_S3` or
//! `AWS_ENDPOINT_URL` points it at another S3 (path-style addressing).

use bytes::Bytes;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

/// What can go wrong reading or writing the lake's files.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("lake {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("lake {location}: {}; check the bucket, the AWS credentials and region (or AWS_ENDPOINT_URL)", answer(error))]
    Remote { location: String, error: object_store::Error },
    #[error("the lake location {location} is not usable: {reason}")]
    BadLocation { location: String, reason: String },
    #[error("an S3 call stopped unexpectedly ({0}); nothing was committed by it, run the command again")]
    Task(String),
    #[error("reading a Parquet footer: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

/// The scheme of a lake on S3.
pub const S3_SCHEME: &str = "s3://";

/// A lake's storage.
#[derive(Debug, Clone)]
pub enum Store {
    /// A folder on this machine (absolute).
    Local(PathBuf),
    /// A bucket and a prefix on S3.
    S3(Remote),
}

/// A lake on S3.
#[derive(Debug, Clone)]
pub struct Remote {
    bucket: String,
    /// Without leading or trailing `/`; may be empty (the bucket's root).
    prefix: String,
    /// The client of the lake's own calls (on the S3 runtime).
    objects: Arc<dyn ObjectStore>,
    /// A client of its own for queries, on the runtime that runs them: a
    /// pooled connection belongs to the runtime that opened it.
    reads: Arc<dyn ObjectStore>,
}

/// One file of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Relative to the lake root, `/`-separated.
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

impl Store {
    /// The store at `location`: `s3://bucket/prefix`, or a local path (not
    /// created here).
    pub fn at(location: &Path) -> Result<Store, StoreError> {
        match location.to_str().and_then(|l| l.strip_prefix(S3_SCHEME)) {
            Some(rest) => Ok(Store::S3(Remote::connect(rest)?)),
            None => Ok(Store::Local(location.to_path_buf())),
        }
    }

    /// The location as the user writes it: a path, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match self {
            Store::Local(root) => root.display().to_string(),
            Store::S3(remote) => remote.url(),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Store::Local(_))
    }

    /// The local path of `key` (local lakes only).
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match self {
            Store::Local(root) => Some(root.join(key)),
            Store::S3(_) => None,
        }
    }

    /// The object store and URL DataFusion reads the lake's files through,
    /// and the prefix its keys start with (`None` for a local lake: read
    /// through DataFusion's local file system).
    pub fn object_store(&self) -> Option<(String, Arc<dyn ObjectStore>, String)> {
        match self {
            Store::Local(_) => None,
            Store::S3(remote) => Some((format!("{S3_SCHEME}{}", remote.bucket), remote.reads.clone(), remote.prefix.clone())),
        }
    }

    /// The file's bytes, or `None` if there is no such file.
    pub fn read(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                match fs::read(&path) {
                    Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io_error(&path)(e)),
                }
            }
            Store::S3(remote) => {
                let (objects, path) = (remote.objects.clone(), remote.path(key)?);
                match remote.run(key, async move { objects.get(&path).await?.bytes().await }) {
                    Err(StoreError::Remote { error: object_store::Error::NotFound { .. }, .. }) => Ok(None),
                    other => other.map(Some),
                }
            }
        }
    }

    /// Several files at once (S3 reads run side by side), in `keys`' order.
    pub fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, StoreError> {
        match self {
            Store::Local(_) => keys.iter().map(|key| self.read(key)).collect(),
            Store::S3(remote) => {
                use futures::StreamExt;
                let paths = keys.iter().map(|key| remote.path(key)).collect::<Result<Vec<_>, _>>()?;
                let objects = remote.objects.clone();
                let reads = async move {
                    let fetches = paths.into_iter().map(|path| {
                        let objects = objects.clone();
                        async move {
                            match objects.get(&path).await {
                                Ok(got) => got.bytes().await.map(Some),
                                Err(object_store::Error::NotFound { .. }) => Ok(None),
                                Err(e) => Err(e),
                            }
                        }
                    });
                    futures::stream::iter(fetches).buffered(16).collect::<Vec<_>>().await.into_iter().collect()
                };
                remote.run(keys.first().map_or("", String::as_str), reads)
            }
        }
    }

    /// Replaces (or creates) a file whole: a reader sees the old bytes or
    /// the new, never a mix.
    pub fn write(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                let staged = aside_with(&path, &bytes)?;
                fs::rename(&staged, &path).map_err(io_error(&path))
            }
            Store::S3(remote) => {
                let (objects, path) = (remote.objects.clone(), remote.path(key)?);
                remote.run(key, async move { objects.put(&path, PutPayload::from(bytes)).await.map(drop) })
            }
        }
    }

    /// Creates a file only if there is none of that name: `false` if there
    /// was one (another writer took the name first).
    pub fn create(&self, key: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                let staged = aside_with(&path, &bytes)?;
                let linked = fs::hard_link(&staged, &path);
                let _ = fs::remove_file(&staged);
                match linked {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(io_error(&path)(e)),
                }
            }
            Store::S3(remote) => {
                let (objects, path) = (remote.objects.clone(), remote.path(key)?);
                let put = async move {
                    let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
                    match objects.put_opts(&path, PutPayload::from(bytes), options).await {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
                        Err(e) => Err(e),
                    }
                };
                remote.run(key, put)
            }
        }
    }

    /// Moves a finished local file (synced) to `key`: renamed locally,
    /// uploaded to S3.
    pub fn place(&self, staged: &Path, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(root) => {
                let target = root.join(key);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(io_error(parent))?;
                }
                fs::rename(staged, &target).map_err(io_error(&target))
            }
            Store::S3(remote) => {
                let (objects, path, staged) = (remote.objects.clone(), remote.path(key)?, staged.to_path_buf());
                let upload = async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut file = tokio::fs::File::open(&staged)
                        .await
                        .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
                    let mut writer = object_store::buffered::BufWriter::new(objects, path);
                    let mut buffer = vec![0u8; 1 << 20];
                    loop {
                        let read = file
                            .read(&mut buffer)
                            .await
                            .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
                        if read == 0 {
                            break;
                        }
                        writer
                            .write_all(&buffer[..read])
                            .await
                            .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
                    }
                    writer.shutdown().await.map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })
                };
                remote.run(key, upload)
            }
        }
    }

    /// Every file under the folder `dir` (recursively), keys relative to the
    /// lake root. Local files whose name starts with `.` (written aside, not
    /// yet renamed in) are left out.
    pub fn list(&self, dir: &str) -> Result<Vec<Listed>, StoreError> {
        self.list_after(dir, None)
    }

    /// As [`Store::list`], only keys after `after` (in byte order), sorted.
    pub fn list_after(&self, dir: &str, after: Option<&str>) -> Result<Vec<Listed>, StoreError> {
        let mut listed = match self {
            Store::Local(root) => {
                let mut found = Vec::new();
                walk(root, &root.join(dir), &mut found);
                found.retain(|l: &Listed| after.is_none_or(|after| l.key.as_str() > after));
                found
            }
            Store::S3(remote) => {
                use futures::TryStreamExt;
                let prefix = remote.path(dir.trim_end_matches('/'))?;
                let offset = after.map(|a| remote.path(a)).transpose()?;
                let objects = remote.objects.clone();
                let strip = remote.prefix.clone();
                let listing = async move {
                    let stream = match &offset {
                        Some(offset) => objects.list_with_offset(Some(&prefix), offset),
                        None => objects.list(Some(&prefix)),
                    };
                    stream.try_collect::<Vec<_>>().await
                };
                remote
                    .run(dir, listing)?
                    .into_iter()
                    .map(|meta| {
                        let full = meta.location.as_ref();
                        let key = if strip.is_empty() { full } else { full.strip_prefix(&strip).unwrap_or(full).trim_start_matches('/') };
                        Listed { key: key.to_string(), size: meta.size, modified: meta.last_modified.into() }
                    })
                    .collect()
            }
        };
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    /// The file's size, or `None` if there is none.
    pub fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                match fs::metadata(&path) {
                    Ok(meta) => Ok(Some(meta.len())),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io_error(&path)(e)),
                }
            }
            Store::S3(remote) => {
                let (objects, path) = (remote.objects.clone(), remote.path(key)?);
                match remote.run(key, async move { objects.head(&path).await }) {
                    Ok(meta) => Ok(Some(meta.size)),
                    Err(StoreError::Remote { error: object_store::Error::NotFound { .. }, .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Deletes a file; one that is not there is not an error.
    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&path)(e)),
                    _ => Ok(()),
                }
            }
            Store::S3(remote) => {
                let (objects, path) = (remote.objects.clone(), remote.path(key)?);
                match remote.run(key, async move { objects.delete(&path).await }) {
                    Err(StoreError::Remote { error: object_store::Error::NotFound { .. }, .. }) => Ok(()),
                    other => other,
                }
            }
        }
    }

    /// A Parquet file's footer, read from its end (`size` bytes long): the
    /// whole file is not fetched.
    pub fn parquet_metadata(&self, key: &str, size: u64) -> Result<ParquetMetaData, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                let file = fs::File::open(&path).map_err(io_error(&path))?;
                Ok(ParquetMetaDataReader::new().parse_and_finish(&file)?)
            }
            Store::S3(remote) => {
                let mut reader = ParquetMetaDataReader::new();
                let mut want = size.min(64 << 10);
                loop {
                    let (objects, path) = (remote.objects.clone(), remote.path(key)?);
                    let range = size - want..size;
                    let tail = remote.run(key, async move { objects.get_range(&path, range).await })?;
                    match reader.try_parse_sized(&tail, size) {
                        Ok(()) => return Ok(reader.finish()?),
                        Err(datafusion::parquet::errors::ParquetError::NeedMoreData(needed)) if (needed as u64) > want => {
                            want = (needed as u64).min(size);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }

    /// A whole file, to read as Parquet: opened locally, fetched from S3.
    pub fn open_parquet(&self, key: &str) -> Result<ParquetBytes, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(key);
                Ok(ParquetBytes::File(fs::File::open(&path).map_err(io_error(&path))?))
            }
            Store::S3(_) => match self.read(key)? {
                Some(bytes) => Ok(ParquetBytes::Bytes(bytes)),
                None => Err(StoreError::Io {
                    path: format!("{}/{key}", self.location()),
                    source: io::Error::new(io::ErrorKind::NotFound, "no such object"),
                }),
            },
        }
    }
}

/// A Parquet file to read: a local file, or an object's bytes.
pub enum ParquetBytes {
    File(fs::File),
    Bytes(Bytes),
}

impl datafusion::parquet::file::reader::Length for ParquetBytes {
    fn len(&self) -> u64 {
        match self {
            ParquetBytes::File(file) => file.len(),
            ParquetBytes::Bytes(bytes) => bytes.len() as u64,
        }
    }
}

impl datafusion::parquet::file::reader::ChunkReader for ParquetBytes {
    type T = Box<dyn io::Read + Send>;

    fn get_read(&self, start: u64) -> datafusion::parquet::errors::Result<Self::T> {
        Ok(match self {
            ParquetBytes::File(file) => Box::new(file.get_read(start)?),
            ParquetBytes::Bytes(bytes) => Box::new(bytes.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> datafusion::parquet::errors::Result<Bytes> {
        match self {
            ParquetBytes::File(file) => file.get_bytes(start, length),
            ParquetBytes::Bytes(bytes) => bytes.get_bytes(start, length),
        }
    }
}

/// Writes `bytes` beside `path` under a name starting with `.`, synced;
/// returns that name.
fn aside_with(path: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    use std::io::Write;
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_error(parent))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staged = parent.join(format!(".{name}.{:016x}", crate::unique_seed()));
    let mut file = fs::File::create(&staged).map_err(io_error(&staged))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io_error(&staged))?;
    Ok(staged)
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<Listed>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Symlinks are not followed.
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            walk(root, &path, found);
        } else if kind.is_file()
            && let Ok(meta) = entry.metadata()
            && let Ok(relative) = path.strip_prefix(root)
        {
            let key = relative.to_string_lossy().into_owned();
            found.push(Listed { key, size: meta.len(), modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH) });
        }
    }
}

impl Remote {
    /// Connects to `bucket/prefix` (the part after `s3://`).
    fn connect(rest: &str) -> Result<Remote, StoreError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        if bucket.is_empty() || prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(StoreError::BadLocation {
                location: format!("{S3_SCHEME}{rest}"),
                reason: "write it as s3://bucket or s3://bucket/prefix".to_string(),
            });
        }
        let config = block_on(async { aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await })
            .ok_or(StoreError::Task("loading the AWS configuration".to_string()))?;
        let region = config.region().map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        let mut builder = AmazonS3Builder::new().with_bucket_name(bucket).with_region(region);
        if let Some(provider) = config.credentials_provider() {
            builder = builder.with_credentials(Arc::new(SdkCredentials(provider)));
        }
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().find_map(|v| std::env::var(v).ok().filter(|e| !e.is_empty()));
        if let Some(endpoint) = endpoint {
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        let build = |builder: AmazonS3Builder| {
            builder.build().map_err(|error| StoreError::Remote { location: format!("{S3_SCHEME}{rest}"), error })
        };
        let reads = build(builder.clone())?;
        Ok(Remote { bucket: bucket.to_string(), prefix, objects: Arc::new(build(builder)?), reads: Arc::new(reads) })
    }

    fn url(&self) -> String {
        if self.prefix.is_empty() { format!("{S3_SCHEME}{}", self.bucket) } else { format!("{S3_SCHEME}{}/{}", self.bucket, self.prefix) }
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        ObjectPath::parse(full.trim_end_matches('/'))
            .map_err(|e| StoreError::BadLocation { location: format!("{}/{key}", self.url()), reason: e.to_string() })
    }

    /// Runs an S3 call on the store's runtime and waits for it.
    fn run<T: Send + 'static>(
        &self,
        key: &str,
        call: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T, StoreError> {
        block_on(call)
            .ok_or_else(|| StoreError::Task(format!("an S3 call for {}/{key}", self.url())))?
            .map_err(|error| StoreError::Remote { location: format!("{}/{key}", self.url()), error })
    }
}

/// What S3 said, in one line: its error code and message when it answered
/// (not the XML around them), else the innermost cause (a refused
/// connection, a name that does not resolve) without the retry details.
pub fn answer(error: &object_store::Error) -> String {
    let text = error.to_string();
    let tag = |name: &str| {
        let (_, rest) = text.split_once(&format!("<{name}>"))?;
        Some(rest.split_once(&format!("</{name}>"))?.0.to_string())
    };
    if let (Some(code), Some(message)) = (tag("Code"), tag("Message")) {
        return format!("S3 answered {code}: {message}");
    }
    if let object_store::Error::NotFound { .. } = error {
        return "not found".to_string();
    }
    let mut innermost: &dyn std::error::Error = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    let first = text.split(" - ").next().unwrap_or(&text);
    if std::ptr::eq(innermost as *const dyn std::error::Error as *const u8, error as *const object_store::Error as *const u8) {
        first.to_string()
    } else {
        format!("{first}: {innermost}")
    }
}

/// The runtime S3 calls run on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tarn-s3")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the S3 runtime: {e}"))
    })
}

/// Runs `call` on the S3 runtime and waits for it; `None` if it panicked.
fn block_on<T: Send + 'static>(call: impl Future<Output = T> + Send + 'static) -> Option<T> {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = done.send(call.await);
    });
    result.recv().ok()
}

/// The AWS SDK's credential chain, for object_store's S3 client.
#[derive(Debug)]
struct SdkCredentials(aws_credential_types::provider::SharedCredentialsProvider);

#[async_trait::async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let credentials =
            self.0.provide_credentials().await.map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
        Ok(Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        }))
    }
}

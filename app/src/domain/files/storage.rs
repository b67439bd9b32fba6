//! Where files' bytes live (SPEC §16): one interface over `object_store`,
//! a directory on local disk (`file://…`, the default) or any
//! S3-compatible bucket (`s3://bucket/prefix`). Objects are keyed
//! `<prefix>/<org id>/<file id>`: a key names no user input.
//!
//! S3 requests go out on the server's own reqwest client (`Connector`),
//! not one object_store would build: one HTTP stack and one TLS setup in
//! the binary, and the AWS variables are read here, explicitly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpResponseBody,
    HttpService,
};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, WriteMultipart};
use uuid::Uuid;

/// Bytes an upload keeps in memory before it sends them as a part: S3's
/// smallest part (the last may be smaller).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts in flight at once per upload: with `PART_BYTES`, an upload holds
/// at most about 15 MB whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;

/// How the server was told to store files.
#[derive(Clone, Debug, PartialEq)]
pub enum StorageUrl {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StorageUrl {
    /// `file:///abs/dir`, `file://relative/dir` or `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<StorageUrl, String> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err("ALUMIA_STORAGE_URL: file:// needs a directory".into());
            }
            return Ok(StorageUrl::Local(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("ALUMIA_STORAGE_URL: s3:// needs a bucket (s3://bucket/prefix)".into());
            }
            return Ok(StorageUrl::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
        }
        Err(format!("ALUMIA_STORAGE_URL must be file://<dir> or s3://<bucket>/<prefix>, not {url:?}"))
    }
}

pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The bucket again, for presigned URLs; `None` on local disk.
    s3: Option<Arc<AmazonS3>>,
    prefix: Option<Path>,
    /// For logs and the startup line: never a secret.
    pub description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// A failure of the store, as the domain reports it (the detail goes to
/// the log, never to an answer).
#[derive(Debug)]
pub struct StoreError(pub object_store::Error);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {}

impl Storage {
    /// Opens the store `url` names. For S3, `env` gives the AWS variables
    /// and `endpoint` an S3-compatible server (path-style requests).
    pub fn open(
        url: &StorageUrl,
        endpoint: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        http: reqwest::Client,
    ) -> Result<Storage, String> {
        match url {
            StorageUrl::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let dir = dir.canonicalize().map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
                let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| e.to_string())?;
                Ok(Storage {
                    store: Arc::new(store),
                    s3: None,
                    prefix: None,
                    description: format!("file://{}", dir.display()),
                })
            }
            StorageUrl::S3 { bucket, prefix } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or("us-east-1".into()))
                    .with_http_connector(Connector(http))
                    // object_store retries for up to 3 minutes by default:
                    // a request of ours (an upload, a download link) would
                    // hang that long on a store that is down.
                    .with_retry(object_store::RetryConfig {
                        max_retries: 2,
                        retry_timeout: Duration::from_secs(10),
                        ..Default::default()
                    });
                if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                    builder = builder.with_access_key_id(id).with_secret_access_key(secret);
                }
                if let Some(token) = env("AWS_SESSION_TOKEN") {
                    builder = builder.with_token(token);
                }
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint.trim_end_matches('/'))
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                let store = Arc::new(builder.build().map_err(|e| format!("S3 storage: {e}"))?);
                let shown = match endpoint {
                    Some(e) => format!("s3://{bucket}/{prefix} at {e}"),
                    None => format!("s3://{bucket}/{prefix}"),
                };
                Ok(Storage {
                    store: store.clone(),
                    s3: Some(store),
                    prefix: (!prefix.is_empty()).then(|| Path::from(prefix.as_str())),
                    description: shown,
                })
            }
        }
    }

    pub fn is_local(&self) -> bool {
        self.s3.is_none()
    }

    /// The key of an org's file.
    pub fn key(&self, org: Uuid, file: Uuid) -> Path {
        let tail = format!("{org}/{file}");
        match &self.prefix {
            Some(prefix) => Path::from(format!("{prefix}/{tail}")),
            None => Path::from(tail),
        }
    }

    /// Starts writing `key`; the bytes go out part by part as they come.
    pub async fn start(&self, key: &Path, content_type: &str) -> Result<Upload, StoreError> {
        let mut options = PutMultipartOptions::default();
        // Local disk keeps no attributes (the row has the type).
        if !self.is_local() {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, content_type.to_string().into());
            attributes.insert(Attribute::ContentDisposition, "attachment".into());
            options.attributes = attributes;
        }
        let upload = self.store.put_multipart_opts(key, options).await.map_err(StoreError)?;
        Ok(Upload { inner: WriteMultipart::new_with_chunk_size(upload, PART_BYTES) })
    }

    /// The object's bytes as they are read.
    pub async fn read(&self, key: &Path) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let got = self.store.get(key).await.map_err(StoreError)?;
        Ok(got.into_stream().map_err(StoreError).boxed())
    }

    /// Removes the object; one already gone is no failure.
    pub async fn delete(&self, key: &Path) -> Result<(), StoreError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError(e)),
        }
    }

    /// Whether the object is there (tests and the sweeper's checks).
    pub async fn exists(&self, key: &Path) -> Result<bool, StoreError> {
        match self.store.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StoreError(e)),
        }
    }

    /// The keys stored for an org: an inventory (what an operator or a
    /// test compares with the org's rows).
    pub async fn keys_under(&self, org: Uuid) -> Result<Vec<String>, StoreError> {
        let prefix = match &self.prefix {
            Some(prefix) => Path::from(format!("{prefix}/{org}")),
            None => Path::from(org.to_string()),
        };
        let listed: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(StoreError)?;
        Ok(listed.into_iter().map(|meta| meta.location.to_string()).collect())
    }

    /// The bucket's presigned GET URL for `key`, valid `expires`; `None`
    /// on local disk, where Alumia signs a route of its own.
    pub async fn presigned(&self, key: &Path, expires: Duration) -> Result<Option<String>, StoreError> {
        let Some(s3) = &self.s3 else { return Ok(None) };
        let url = s3.signed_url(http::Method::GET, key, expires).await.map_err(StoreError)?;
        Ok(Some(url.to_string()))
    }
}

/// An object being written. Dropped without `finish`, it is aborted.
pub struct Upload {
    inner: WriteMultipart,
}

impl Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        // Back-pressure: wait for parts to go out before taking more.
        self.inner.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(StoreError)?;
        self.inner.write(chunk);
        Ok(())
    }

    pub async fn finish(self) -> Result<(), StoreError> {
        self.inner.finish().await.map(|_| ()).map_err(StoreError)
    }

    pub async fn abort(self) {
        if let Err(e) = self.inner.abort().await {
            tracing::warn!(error = %e, "could not abort an upload");
        }
    }
}

/// Builds object_store's HTTP client from ours.
#[derive(Debug)]
struct Connector(reqwest::Client);

impl HttpConnector for Connector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Service(self.0.clone())))
    }
}

#[derive(Debug)]
struct Service(reqwest::Client);

fn kind(e: &reqwest::Error) -> HttpErrorKind {
    if e.is_connect() {
        HttpErrorKind::Connect
    } else if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_body() || e.is_decode() {
        HttpErrorKind::Interrupted
    } else if e.is_request() {
        HttpErrorKind::Request
    } else {
        HttpErrorKind::Unknown
    }
}

#[async_trait::async_trait]
impl HttpService for Service {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| HttpError::new(HttpErrorKind::Request, e))?;
        let mut request = reqwest::Request::new(parts.method, url);
        *request.headers_mut() = parts.headers;
        let length = body.content_length();
        *request.body_mut() = Some(match body.as_bytes() {
            Some(bytes) => reqwest::Body::from(bytes.clone()),
            None => {
                // A part's payload: already in memory, sent as its pieces
                // with its length (S3 takes no chunked uploads).
                request.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(length as u64));
                reqwest::Body::wrap_stream(body.into_data_stream())
            }
        });
        let answer = self.0.execute(request).await.map_err(|e| HttpError::new(kind(&e), e))?;
        let answer: http::Response<reqwest::Body> = answer.into();
        let (parts, body) = answer.into_parts();
        let body = HttpResponseBody::new(body.map_err(|e| HttpError::new(kind(&e), e)));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_parse() {
        assert_eq!(
            StorageUrl::parse("file:///var/lib/alumia/files"),
            Ok(StorageUrl::Local("/var/lib/alumia/files".into()))
        );
        assert_eq!(
            StorageUrl::parse("s3://bucket/some/prefix/"),
            Ok(StorageUrl::S3 { bucket: "bucket".into(), prefix: "some/prefix".into() })
        );
        assert_eq!(
            StorageUrl::parse("s3://bucket"),
            Ok(StorageUrl::S3 { bucket: "bucket".into(), prefix: String::new() })
        );
        assert!(StorageUrl::parse("s3:///nobucket").is_err());
        assert!(StorageUrl::parse("ftp://x").is_err());
        assert!(StorageUrl::parse("file://").is_err());
    }
}

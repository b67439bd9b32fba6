//! A real S3-compatible server on loopback: s3s-fs (S3's wire protocol
//! over a temporary directory) behind s3s's SigV4 check, which also
//! refuses presigned URLs past their expiry. Test servers pointed at it
//! store files exactly as they would in a bucket.

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use uuid::Uuid;

pub const ACCESS_KEY: &str = "AKIAALUMIATEST";
pub const SECRET_KEY: &str = "alumia-test-secret-key";
pub const BUCKET: &str = "alumia-files";

pub struct FakeS3 {
    pub endpoint: String,
    pub root: PathBuf,
}

impl FakeS3 {
    pub async fn start() -> FakeS3 {
        let root = std::env::temp_dir().join(format!("alumia-s3-{}", Uuid::new_v4().simple()));
        // A bucket is a directory of the root.
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs opens its root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        FakeS3 { endpoint: format!("http://{addr}"), root }
    }

    /// Points a test server's storage at this bucket. The credentials
    /// come from the AWS variables, as in production (nextest runs each
    /// test in a process of its own, so setting them here is safe).
    pub fn configure(&self, settings: &mut server::Settings) {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::set_var("AWS_REGION", "us-east-1");
        settings.storage_url = Some(format!("s3://{BUCKET}/tenant-files"));
        settings.s3_endpoint = Some(self.endpoint.clone());
    }
}

impl Drop for FakeS3 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

//! Every Redis client is made here, so each connection signs in and is encrypted the same
//! way (see [`RedisAccess`]): the command connections, the Pub/Sub clients and the seat
//! subscription alike.

use redis::cluster::ClusterClientBuilder;
use redis::{IntoConnectionInfo, ProtocolVersion, RedisResult, TlsCertificates};

use crate::config::RedisAccess;

/// A client of one node (`url`), speaking `protocol`.
pub fn client(access: &RedisAccess, url: &str, protocol: ProtocolVersion) -> RedisResult<redis::Client> {
    let info = url.into_connection_info()?;
    let mut redis = info.redis_settings().clone().set_protocol(protocol);
    if let Some(username) = &access.username {
        redis = redis.set_username(username);
    }
    if let Some(password) = &access.password {
        redis = redis.set_password(password.expose());
    }
    let info = info.set_redis_settings(redis);
    match certificates(access) {
        Some(certificates) => redis::Client::build_with_tls(info, certificates),
        None => redis::Client::open(info),
    }
}

/// A cluster client builder over the seeds; the nodes it discovers are reached the same way.
pub fn cluster(access: &RedisAccess, seeds: &[String]) -> ClusterClientBuilder {
    let mut builder = ClusterClientBuilder::new(seeds.to_vec());
    if let Some(username) = &access.username {
        builder = builder.username(username);
    }
    if let Some(password) = &access.password {
        builder = builder.password(password.expose());
    }
    if let Some(certificates) = certificates(access) {
        builder = builder.certs(certificates);
    }
    builder
}

fn certificates(access: &RedisAccess) -> Option<TlsCertificates> {
    let ca = access.tls_ca.as_ref()?;
    Some(TlsCertificates { client_tls: None, root_cert: Some(ca.0.clone()) })
}

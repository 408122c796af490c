//! Which services run, and applying the manifest to them through the same handlers the AWS
//! API uses (one way in).

use crate::config::Config;
use crate::endpoint::Endpoint;

/// Creates every available service on the shared store and registers it with the endpoint.
pub fn register(
    _endpoint: &mut Endpoint,
    _store: &nuvem_store::Store,
    _config: &Config,
) -> anyhow::Result<()> {
    Ok(())
}

/// Creates what the manifest declares and is missing. Never deletes anything.
pub async fn apply_manifest(config: &Config, _store: &nuvem_store::Store) -> anyhow::Result<()> {
    let m = &config.manifest;
    let pending = [
        ("tables", !m.tables.is_empty()),
        ("buckets", !m.buckets.is_empty()),
        ("functions", !m.functions.is_empty()),
        ("apis", !m.apis.is_empty()),
        ("distribution", m.distribution.is_some()),
        ("waf", m.waf.is_some()),
    ];
    for (section, declared) in pending {
        if declared {
            println!(
                "  note: the manifest declares `{section}`, which this build of nuvem does not serve yet"
            );
        }
    }
    Ok(())
}

//! Listing a bucket from the metadata index in UTF-8 binary key order: prefix, delimiter
//! (common prefixes), a start-after marker and a page size
//! (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). A common prefix
//! is skipped in one seek, so a page costs what it returns, not what the bucket holds.

use nuvem_store::{Direction, KeyRange, prefix_successor};

use super::{ObjectMeta, ObjectStore, decode, keys};
use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Keys (and common prefixes) up to and including this one are skipped.
    pub start_after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ObjectMeta)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned (the marker of the next page).
    pub last: Option<String>,
}

impl ObjectStore {
    pub async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, Error> {
        let (b, q) = (bucket.to_owned(), q.clone());
        self.run(move |s| s.list_objects_sync(&b, &q)).await
    }

    fn list_objects_sync(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, Error> {
        self.bucket_sync(bucket)?;
        let base = keys::objects_of(bucket);
        let mut start = base.clone();
        start.extend_from_slice(q.prefix.as_bytes());
        let end = prefix_successor(&start);
        if let Some(after) = &q.start_after
            && after.as_str() >= q.prefix.as_str()
        {
            let mut s = base.clone();
            s.extend_from_slice(after.as_bytes());
            s.push(0); // the smallest key after `after`
            start = s;
        }
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let snap = self.store.snapshot();
        let mut page = ListPage::default();
        'outer: loop {
            let range = KeyRange {
                start: std::ops::Bound::Included(start.clone()),
                end: end
                    .clone()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            };
            for entry in snap.scan(range, Direction::Forward) {
                let (k, v) = entry?;
                let Some(key) = keys::object_key(&base, &k) else {
                    continue;
                };
                let rest = key.get(q.prefix.len()..).unwrap_or("");
                let common = delimiter
                    .and_then(|d| rest.find(d).map(|i| q.prefix.len() + i + d.len()))
                    .and_then(|cut| key.get(..cut));
                if page.objects.len() + page.common_prefixes.len() >= q.max_keys {
                    page.truncated = true;
                    break 'outer;
                }
                match common {
                    Some(cp) => {
                        let skip = q.start_after.as_deref().is_some_and(|a| a.starts_with(cp));
                        if !skip {
                            page.common_prefixes.push(cp.to_string());
                            page.last = Some(cp.to_string());
                        }
                        let mut next = base.clone();
                        next.extend_from_slice(cp.as_bytes());
                        match prefix_successor(&next) {
                            Some(n) => start = n,
                            None => break 'outer,
                        }
                        continue 'outer;
                    }
                    None => {
                        page.objects.push((key.to_string(), decode(&v)?));
                        page.last = Some(key.to_string());
                    }
                }
            }
            break;
        }
        Ok(page)
    }
}

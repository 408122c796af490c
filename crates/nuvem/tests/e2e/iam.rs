//! IAM and STS through boto3 against the real binary: users, keys that sign, policies,
//! roles, temporary credentials (tests/e2e/boto3/iam_boto3.py).

use nuvem_testkit::Nuvem;

const BIN: &str = env!("CARGO_BIN_EXE_nuvem");

#[tokio::test]
async fn iam_and_sts_with_boto3() {
    if !crate::have_boto3("iam_and_sts_with_boto3") {
        return;
    }
    let nuvem = Nuvem::start(BIN);
    let api = nuvem.api_url.clone();
    tokio::task::spawn_blocking(move || crate::run_boto3("iam_boto3.py", &api, "boto3 iam: ok"))
        .await
        .unwrap();
}

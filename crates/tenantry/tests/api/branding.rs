//! Co-branding over HTTP: the MSP's name, contacts and logos, validated; what its customers see;
//! the subscription's billing contact; logos checked by content.

use crate::support::{Reply, Server};
use serde_json::json;

crate::api_tests!(
    an_msps_branding_is_what_its_customers_see_and_their_billing_contact,
    branding_fields_are_validated_and_customers_have_none_of_their_own,
    logos_are_checked_by_content_and_served_with_caching_headers,
    the_login_page_branding_is_public_for_platform_partner_and_msp_slugs_only,
);

/// A 1×1 PNG.
pub const PNG: [u8; 70] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 31, 21, 196,
    137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 252, 207, 192, 80, 15, 0, 4, 133, 1, 128, 132, 169, 140, 33, 0, 0,
    0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

fn branding() -> serde_json::Value {
    json!({
        "display_name": "Acme Managed Security",
        "support_email": "help@acme.test",
        "support_phone": "+45 70 20 30 40",
        "homepage_url": "https://acme.test/support"
    })
}

async fn an_msps_branding_is_what_its_customers_see_and_their_billing_contact(s: Server) {
    let t = s.tree().await;
    let set =
        t.msp.send("PUT", &format!("/api/v1/accounts/{}/branding", t.msp_id), Some(branding()), true).await.expect(200);
    assert_eq!(set.body["display_name"], "Acme Managed Security");
    let effective = t.customer.get(&format!("/api/v1/accounts/{}/branding/effective", t.customer_id)).await.expect(200);
    assert_eq!(effective.body["display_name"], "Acme Managed Security");
    assert_eq!(effective.body["support_phone"], "+45 70 20 30 40");
    assert!(effective.body["logo_light_url"].is_null());
    let sub = t.customer.get(&format!("/api/v1/accounts/{}/subscription", t.customer_id)).await.expect(200);
    assert_eq!(
        sub.body["billing_contact"],
        json!({
            "name": "Acme Managed Security",
            "email": "help@acme.test",
            "phone": "+45 70 20 30 40",
            "homepage_url": "https://acme.test/support"
        })
    );
    let rival_customer = s.login("boss@umbrella.test", crate::support::PASSWORD).await;
    let theirs =
        rival_customer.get(&format!("/api/v1/accounts/{}/branding/effective", t.rival_customer_id)).await.expect(200);
    assert!(theirs.body["display_name"].is_null(), "another MSP's customers do not see it");
    t.customer.get(&format!("/api/v1/accounts/{}/branding", t.msp_id)).await.problem(404, "not_found");
    let trail = t.msp.get(&format!("/api/v1/accounts/{}/audit?action=branding.updated", t.msp_id)).await.expect(200);
    assert_eq!(trail.body["items"].as_array().map(Vec::len), Some(1));
}

async fn branding_fields_are_validated_and_customers_have_none_of_their_own(s: Server) {
    let t = s.tree().await;
    let path = format!("/api/v1/accounts/{}/branding", t.msp_id);
    for (field, bad) in [
        ("support_email", "not-an-email"),
        ("support_phone", "70 20 30 40"),
        ("support_phone", "+12"),
        ("homepage_url", "javascript:alert(1)"),
        ("homepage_url", "acme.test"),
    ] {
        let mut body = branding();
        body[field] = json!(bad);
        let reply: Reply = t.msp.send("PUT", &path, Some(body), true).await.problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], field);
    }
    let got = t.msp.get(&path).await.expect(200);
    assert!(got.body["display_name"].is_null(), "nothing was written");
    t.customer
        .send("PUT", &format!("/api/v1/accounts/{}/branding", t.customer_id), Some(branding()), true)
        .await
        .problem(403, "forbidden");
    let (_, staff) = s.user(&t.msp, &t.msp_id, "msp_staff", "tech@acme.test").await;
    staff.get(&path).await.expect(200);
    staff.send("PUT", &path, Some(branding()), true).await.problem(403, "forbidden");
    t.rival.send("PUT", &path, Some(branding()), true).await.problem(404, "not_found");
}

async fn logos_are_checked_by_content_and_served_with_caching_headers(s: Server) {
    let t = s.tree().await;
    let light = format!("/api/v1/accounts/{}/branding/logos/light", t.msp_id);
    s.raw_bytes(&t.msp, "PUT", &light, "image/png", PNG.to_vec()).await.expect(204);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    s.raw_bytes(&t.msp, "PUT", &light, "image/png", svg).await.problem(415, "unsupported_media_type");
    let mut truncated = PNG.to_vec();
    truncated.truncate(40);
    s.raw_bytes(&t.msp, "PUT", &light, "image/png", truncated).await.problem(415, "unsupported_media_type");
    let (status, _) = s.oversized(&t.msp, "PUT", &light, "image/png", 2 * 1024 * 1024).await;
    assert_eq!(status, 413);
    s.raw_bytes(
        &t.msp,
        "PUT",
        &format!("/api/v1/accounts/{}/branding/logos/purple", t.msp_id),
        "image/png",
        PNG.to_vec(),
    )
    .await
    .problem(404, "not_found");

    let effective = t.customer.get(&format!("/api/v1/accounts/{}/branding/effective", t.customer_id)).await.expect(200);
    let url = effective.id("/logo_light_url");
    assert!(effective.body["logo_dark_url"].is_null());
    let path = url.trim_start_matches(&s.base).to_owned();
    let served = t.customer.get(&path).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
    assert_eq!(served.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("private, max-age=300"));
    assert!(served.headers.contains_key("etag"));
    t.msp.delete(&light).await.expect(204);
    t.customer.get(&path).await.problem(404, "not_found");
}

async fn the_login_page_branding_is_public_for_platform_partner_and_msp_slugs_only(s: Server) {
    let t = s.tree().await;
    let msp = format!("/api/v1/accounts/{}", t.msp_id);
    t.msp.send("PUT", &format!("{msp}/branding"), Some(branding()), true).await.expect(200);
    s.raw_bytes(&t.msp, "PUT", &format!("{msp}/branding/logos/light"), "image/png", PNG.to_vec()).await.expect(204);
    let slug = t.msp.get(&msp).await.expect(200).id("/slug");
    let page = s.anon("GET", &format!("/api/v1/login-branding/{slug}"), None).await.expect(200);
    assert_eq!(page.body["display_name"], "Acme Managed Security");
    assert_eq!(page.body["support_email"], "help@acme.test");
    let logo_url = page.body["logo_light_url"].as_str().unwrap_or_default().to_owned();
    assert!(logo_url.ends_with(&format!("/api/v1/login-branding/{slug}/logos/light")), "{logo_url}");
    assert!(page.body["logo_dark_url"].is_null());
    let logo = s.http.get(&logo_url).send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
    assert_eq!(logo.bytes().await.unwrap_or_default().as_ref(), PNG.as_slice());
    let customer_slug = t.customer.get(&format!("/api/v1/accounts/{}", t.customer_id)).await.expect(200).id("/slug");
    let hidden =
        s.anon("GET", &format!("/api/v1/login-branding/{customer_slug}"), None).await.problem(404, "not_found");
    let missing = s.anon("GET", "/api/v1/login-branding/no-such-msp", None).await.problem(404, "not_found");
    assert_eq!(hidden.text, missing.text, "a customer's slug is not confirmed");
    let partner_slug = t.partner.get(&format!("/api/v1/accounts/{}", t.partner_id)).await.expect(200).id("/slug");
    let unbranded = s.anon("GET", &format!("/api/v1/login-branding/{partner_slug}"), None).await.expect(200);
    assert!(unbranded.body["display_name"].is_null(), "no branding above it: {}", unbranded.text);
}

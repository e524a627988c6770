# Edge, only when var.domain_name is set: ACM certificates validated through
# Route 53, CloudFront in front of the ALB, alias records, optional WAF.
#
#   viewer --HTTPS--> CloudFront (domain_name, us-east-1 certificate)
#          --HTTPS + secret header--> ALB (origin.<domain_name>, regional certificate)

# The ALB certificate covers the public name too: CloudFront forwards the
# viewer's Host header (AllViewer) and checks the origin certificate against it.
resource "aws_acm_certificate" "alb" {
  count = local.edge_enabled ? 1 : 0

  domain_name               = var.domain_name
  subject_alternative_names = [local.origin_fqdn]
  validation_method         = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "cloudfront" {
  count    = local.edge_enabled ? 1 : 0
  provider = aws.us_east_1

  domain_name       = var.domain_name
  validation_method = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# DNS validation records, keyed by the names (known at plan time). ACM's
# record for a name is the same for every certificate of the account, so the
# CloudFront certificate (domain_name only) reuses the ALB certificate's.
resource "aws_route53_record" "acm_validation" {
  for_each = local.edge_enabled ? toset([var.domain_name, local.origin_fqdn]) : toset([])

  zone_id         = var.route53_zone_id
  name            = one([for d in aws_acm_certificate.alb[0].domain_validation_options : d.resource_record_name if d.domain_name == each.key])
  type            = one([for d in aws_acm_certificate.alb[0].domain_validation_options : d.resource_record_type if d.domain_name == each.key])
  records         = [one([for d in aws_acm_certificate.alb[0].domain_validation_options : d.resource_record_value if d.domain_name == each.key])]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "alb" {
  count = local.edge_enabled ? 1 : 0

  certificate_arn         = aws_acm_certificate.alb[0].arn
  validation_record_fqdns = [for r in aws_route53_record.acm_validation : r.fqdn]
}

resource "aws_acm_certificate_validation" "cloudfront" {
  count    = local.edge_enabled ? 1 : 0
  provider = aws.us_east_1

  certificate_arn         = aws_acm_certificate.cloudfront[0].arn
  validation_record_fqdns = [aws_route53_record.acm_validation[var.domain_name].fqdn]
}

# ------------------------------------------------------------ CloudFront ---

# AWS managed policies, looked up by name and only with a domain (trial mode
# reads nothing from CloudFront).
data "aws_cloudfront_cache_policy" "caching_disabled" {
  count = local.edge_enabled ? 1 : 0

  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_cache_policy" "caching_optimized" {
  count = local.edge_enabled ? 1 : 0

  name = "Managed-CachingOptimized"
}

# Every viewer header, cookie and query string, plus the CloudFront headers,
# among them CloudFront-Viewer-Address (the viewer's ip:port), which the app
# takes as the client address (NEWSREAD_CLIENT_ADDRESS_HEADER) on requests
# from its trusted proxies. Managed-AllViewer would not forward it.
data "aws_cloudfront_origin_request_policy" "all_viewer_and_cloudfront" {
  count = local.edge_enabled ? 1 : 0

  name = "Managed-AllViewerAndCloudFrontHeaders-2022-06"
}

data "aws_cloudfront_response_headers_policy" "security_headers" {
  count = local.edge_enabled ? 1 : 0

  name = "Managed-SecurityHeadersPolicy"
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_310:A single ALB origin already spans three zones; there is no second origin to fail over to.
  #checkov:skip=CKV_AWS_374:A public news site serves every country; geo restriction would be arbitrary.
  #checkov:skip=CKV_AWS_305:The origin is the application, which serves / itself; default_root_object applies to S3-style origins.
  #checkov:skip=CKV2_AWS_47:The optional WAF (enable_waf) includes AWSManagedRulesKnownBadInputsRuleSet, which covers Log4j; checkov cannot follow the conditional web_acl_id.
  #checkov:skip=CKV2_AWS_46:The only origin is the ALB (a custom origin), not an S3 bucket, so origin access control does not apply.
  count = local.edge_enabled ? 1 : 0

  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "${local.prefix} NewsRead"
  aliases         = [var.domain_name]
  price_class     = var.cloudfront_price_class
  web_acl_id      = var.enable_waf ? aws_wafv2_web_acl.edge[0].arn : null

  origin {
    origin_id   = "alb"
    domain_name = local.origin_fqdn

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = 60
      origin_keepalive_timeout = 5
    }

    custom_header {
      name  = local.origin_header_name
      value = terraform_data.origin_header[var.origin_header_active].output
    }
  }

  # Dynamic pages: never cached; every viewer header, cookie (nr_session,
  # nr_csrf) and query string reaches the app, with CloudFront-Viewer-Address.
  default_cache_behavior {
    target_origin_id           = "alb"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled[0].id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_and_cloudfront[0].id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers[0].id
  }

  # Content-fingerprinted assets (Cache-Control: immutable): cached, and no
  # cookies forwarded so every viewer shares the cache.
  ordered_cache_behavior {
    path_pattern               = "/static/*"
    target_origin_id           = "alb"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_optimized[0].id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers[0].id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront[0].certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  logging_config {
    bucket          = aws_s3_bucket.logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs, aws_route53_record.origin]
}

# ------------------------------------------------------------------- DNS ---

resource "aws_route53_record" "site" {
  for_each = local.edge_enabled ? toset(["A", "AAAA"]) : toset([])

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = each.value

  alias {
    name                   = aws_cloudfront_distribution.this[0].domain_name
    zone_id                = aws_cloudfront_distribution.this[0].hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "origin" {
  count = local.edge_enabled ? 1 : 0

  zone_id = var.route53_zone_id
  name    = local.origin_fqdn
  type    = "A"

  alias {
    name                   = aws_lb.app.dns_name
    zone_id                = aws_lb.app.zone_id
    evaluate_target_health = true
  }
}

# ------------------------------------------------------------------- WAF ---

resource "aws_wafv2_web_acl" "edge" {
  count    = var.enable_waf ? 1 : 0
  provider = aws.us_east_1

  name        = "${local.prefix}-edge"
  description = "NewsRead CloudFront: AWS managed rule groups and a per-IP rate limit"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit_per_5min
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-limit-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-ip-reputation"
    priority = 1

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-sqli"
    priority = 4

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesSQLiRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-sqli"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.prefix}-edge"
    sampled_requests_enabled   = true
  }
}

# WAF logs: the log group must be in us-east-1 and named aws-waf-logs-*, so
# it gets its own us-east-1 key.
resource "aws_kms_key" "edge" {
  count    = var.enable_waf ? 1 : 0
  provider = aws.us_east_1

  description             = "${local.prefix}: WAF log group in us-east-1"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_edge.json
}

data "aws_iam_policy_document" "kms_edge" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" is this key only; the account statement delegates to IAM as AWS's default key policy does.
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is this key only; write access is limited to the account (IAM) and CloudWatch Logs with a condition.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only valid resource in a key policy and means this key.
  statement {
    sid       = "AccountAdministersKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.us-east-1.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:us-east-1:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_cloudwatch_log_group" "waf" {
  count    = var.enable_waf ? 1 : 0
  provider = aws.us_east_1

  name              = "aws-waf-logs-${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.edge[0].arn
}

resource "aws_wafv2_web_acl_logging_configuration" "edge" {
  count    = var.enable_waf ? 1 : 0
  provider = aws.us_east_1

  resource_arn            = aws_wafv2_web_acl.edge[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  # Keep session cookies (nr_session, nr_csrf) out of the WAF logs.
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}

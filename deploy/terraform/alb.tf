# Application Load Balancer in the public subnets.
#
# With a domain: HTTPS listener (ACM certificate, TLS 1.2+ policy) whose
# default action is 403; one rule forwards to the app only when the request
# carries the secret origin header that CloudFront adds, so the ALB cannot be
# used around CloudFront. Port 80 redirects to HTTPS.
# Without a domain (trials only): a plain HTTP listener forwards to the app.

resource "aws_lb" "app" {
  #checkov:skip=CKV2_AWS_20:With a domain, port 80 only redirects to HTTPS (aws_lb_listener.http_redirect); the forwarding HTTP listener exists only in the documented no-domain trial mode, where there is no certificate.
  #checkov:skip=CKV2_AWS_28:The WAF web ACL (enable_waf) sits on CloudFront, in front of this ALB, and the ALB only serves requests carrying CloudFront's secret origin header; without a domain the stack is a documented trial.
  name                       = "${local.prefix}-alb"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  enable_http2               = true
  idle_timeout               = 60
  desync_mitigation_mode     = "defensive"
  xff_header_processing_mode = "append"

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "app" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the hop to the targets stays inside the VPC's private app subnets, and the instances hold no certificate to serve TLS with.
  name                 = "${local.prefix}-app"
  port                 = var.app_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.this.id
  target_type          = "instance"
  deregistration_delay = var.alb_deregistration_delay_seconds

  health_check {
    enabled             = true
    path                = "/readyz"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  # Sessions live in the database: any instance can serve any request.
  stickiness {
    type    = "lb_cookie"
    enabled = false
  }
}

# ------------------------------------------------------- with a domain ---

resource "aws_lb_listener" "http_redirect" {
  count = local.edge_enabled ? 1 : 0

  load_balancer_arn = aws_lb.app.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.edge_enabled ? 1 : 0

  load_balancer_arn = aws_lb.app.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.alb[0].certificate_arn

  # Anything that did not come through CloudFront.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Forbidden"
      status_code  = "403"
    }
  }
}

# Two generated secrets; CloudFront sends the active one, the ALB accepts both
# so that rotation never produces a 403 (docs/deploy-aws.md). Secrets
# Manager's GetRandomPassword generates them (no hashicorp/random); each is
# kept in state by a terraform_data that ignores later reads, so it changes
# only when replaced on purpose (-replace='terraform_data.origin_header["b"]').
data "aws_secretsmanager_random_password" "origin_header" {
  for_each = local.edge_enabled ? toset(["a", "b"]) : toset([])

  password_length     = 48
  exclude_punctuation = true # ALB header conditions treat * and ? as wildcards
  include_space       = false
}

resource "terraform_data" "origin_header" {
  for_each = local.edge_enabled ? toset(["a", "b"]) : toset([])

  input = sensitive(data.aws_secretsmanager_random_password.origin_header[each.key].random_password)

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_lb_listener_rule" "from_cloudfront" {
  count = local.edge_enabled ? 1 : 0

  listener_arn = aws_lb_listener.https[0].arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }

  condition {
    http_header {
      http_header_name = local.origin_header_name
      values           = [terraform_data.origin_header["a"].output, terraform_data.origin_header["b"].output]
    }
  }
}

# ---------------------------------------------------- without a domain ---

resource "aws_lb_listener" "http_trial" {
  #checkov:skip=CKV_AWS_2:Created only without domain_name (documented trial mode): there is no certificate to terminate HTTPS with.
  #checkov:skip=CKV_AWS_103:Created only without domain_name (documented trial mode): a plain HTTP listener has no TLS policy.
  count = local.edge_enabled ? 0 : 1

  load_balancer_arn = aws_lb.app.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

# Least privilege: one service account per function, one for Vertex AI jobs, one that signs
# Pub/Sub's pushes. Roles are granted on the resource where GCP allows it (topic, bucket,
# service, service account) and on the project, narrowed by a condition, where it does not.

resource "google_service_account" "api" {
  account_id   = "${var.name}-api"
  display_name = "launchq HTTP API function"
}

resource "google_service_account" "dispatcher" {
  account_id   = "${var.name}-dispatcher"
  display_name = "launchq dispatcher function"
}

resource "google_service_account" "reconciler" {
  account_id   = "${var.name}-reconciler"
  display_name = "launchq reconciler function"
}

resource "google_service_account" "events" {
  account_id   = "${var.name}-events"
  display_name = "launchq target_events function (Vertex AI job state changes)"
}

resource "google_service_account" "training" {
  account_id   = "${var.name}-training"
  display_name = "launchq Vertex AI jobs (queue config run.service_account)"
}

resource "google_service_account" "push" {
  account_id   = "${var.name}-push"
  display_name = "Signs Pub/Sub pushes to the launchq dispatcher, reconciler and target_events"
}

locals {
  functions_sa = {
    api        = google_service_account.api.member
    dispatcher = google_service_account.dispatcher.member
    reconciler = google_service_account.reconciler.member
    events     = google_service_account.events.member
  }
  # The dispatcher submits and builds, the reconciler polls, stops and builds, the API stops,
  # target_events polls one job (and stops one whose run is stopping).
  launchers  = { dispatcher = local.functions_sa.dispatcher, reconciler = local.functions_sa.reconciler }
  pubsub_sa  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  kubernetes = contains(var.targets, "kubernetes") || local.builds
}

# Firestore: read and write documents of launchq's database only.
resource "google_project_iam_member" "firestore" {
  for_each = local.functions_sa
  project  = var.project
  role     = "roles/datastore.user"
  member   = each.value
  condition {
    title      = "launchq-database-only"
    expression = "resource.name == \"projects/${var.project}/databases/${google_firestore_database.launchq.name}\""
  }
}

# Ring the doorbell: enqueue (API), slot freed (dispatcher, reconciler).
resource "google_pubsub_topic_iam_member" "doorbell" {
  for_each = local.functions_sa
  topic    = google_pubsub_topic.doorbell.id
  role     = "roles/pubsub.publisher"
  member   = each.value
}

# Vertex AI custom jobs: create, get, list, cancel (the API cancels on stop).
resource "google_project_iam_member" "vertex" {
  for_each = contains(var.targets, "vertex") ? local.functions_sa : {}
  project  = var.project
  role     = "roles/aiplatform.user"
  member   = each.value
}

# Submit Vertex AI jobs that run as the training account (and only that one).
resource "google_service_account_iam_member" "act_as_training" {
  for_each           = local.launchers
  service_account_id = google_service_account.training.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# GKE: Jobs on the clusters queues name, and Kaniko build Jobs.
resource "google_project_iam_member" "gke" {
  for_each = local.kubernetes ? local.functions_sa : {}
  project  = var.project
  role     = "roles/container.developer"
  member   = each.value
}

# Build contexts: the launchers upload them.
resource "google_storage_bucket_iam_member" "build_contexts" {
  for_each = local.builds ? local.launchers : {}
  bucket   = google_storage_bucket.build_contexts[0].name
  role     = "roles/storage.objectAdmin"
  member   = each.value
}

# Uploaded code: the API looks an archive up and creates it (create-only, never overwrites or
# deletes); the launchers read it to build an image from it. The lifecycle rule deletes.
resource "google_storage_bucket_iam_member" "code_upload" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.code.name
  role     = each.value
  member   = local.functions_sa.api
}

resource "google_storage_bucket_iam_member" "code_read" {
  for_each = local.launchers
  bucket   = google_storage_bucket.code.name
  role     = "roles/storage.objectViewer"
  member   = each.value
}

# "Is this image already built?": the launchers read the repository.
resource "google_artifact_registry_repository_iam_member" "launchers_read" {
  for_each   = local.builds ? local.launchers : {}
  location   = var.region
  repository = var.image_repository
  role       = "roles/artifactregistry.reader"
  member     = each.value
}

# The jobs themselves: pull images, write their outputs under the staging bucket.
resource "google_storage_bucket_iam_member" "training_staging" {
  bucket = google_storage_bucket.staging.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.training.member
}

resource "google_project_iam_member" "training_pull" {
  project = var.project
  role    = "roles/artifactregistry.reader"
  member  = google_service_account.training.member
}

# Pub/Sub pushes carry an OIDC token of the push account, which alone may invoke the
# dispatcher and reconciler; Pub/Sub's service agent mints those tokens, forwards what
# fails 5 times to the dead-letter topic, and acknowledges it on the source subscription.
resource "google_cloud_run_v2_service_iam_member" "push_dispatcher" {
  name   = google_cloudfunctions2_function.launchq["dispatcher"].service_config[0].service
  role   = "roles/run.invoker"
  member = google_service_account.push.member
}

resource "google_cloud_run_v2_service_iam_member" "push_reconciler" {
  name   = google_cloudfunctions2_function.launchq["reconciler"].service_config[0].service
  role   = "roles/run.invoker"
  member = google_service_account.push.member
}

resource "google_cloud_run_v2_service_iam_member" "push_target_events" {
  name   = google_cloudfunctions2_function.launchq["target_events"].service_config[0].service
  role   = "roles/run.invoker"
  member = google_service_account.push.member
}

# The log sink writes as its own identity, which may publish to the target-events topic only.
resource "google_pubsub_topic_iam_member" "sink_publishes" {
  topic  = google_pubsub_topic.target_events.id
  role   = "roles/pubsub.publisher"
  member = google_logging_project_sink.vertex_jobs.writer_identity
}

resource "google_service_account_iam_member" "pubsub_signs_pushes" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_sa
}

resource "google_pubsub_topic_iam_member" "pubsub_dead_letters" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_sa
}

resource "google_pubsub_subscription_iam_member" "pubsub_forwards" {
  for_each     = { dispatcher = google_pubsub_subscription.dispatcher.id, reconciler = google_pubsub_subscription.reconciler.id }
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_sa
}

# Who may call the API: nobody but the project's owners unless named (no allUsers).
resource "google_cloud_run_v2_service_iam_member" "api_invokers" {
  for_each = toset(var.api_invokers)
  name     = google_cloudfunctions2_function.launchq["api"].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# A customer-managed key for the topics: Pub/Sub's service agent encrypts with it.
resource "google_kms_crypto_key_iam_member" "pubsub_uses_key" {
  count         = var.kms_key == "" ? 0 : 1
  crypto_key_id = var.kms_key
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_sa
}

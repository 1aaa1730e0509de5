-- CloudTrail Lake queries in the style of AWS's published samples
-- (aws-samples/cloud-trail-lake-query-samples), written as a Lake user
-- writes them: bare store id, mixed-case names, string time literals,
-- Trino functions. `<EDS ID>` stands for a CloudTrail store's id, and
-- `{TIME}` for a time bound (`eventTime > '…'` or `1 = 1`); tests and the
-- benchmark fill both in. Each query starts with a `-- name:` line.

-- name: console logins without MFA
SELECT useridentity.arn, sourceIPAddress, COUNT(*) AS logins
FROM <EDS ID>
WHERE eventName = 'ConsoleLogin'
  AND element_at(additionalEventData, 'MFAUsed') = 'No'
  AND element_at(responseElements, 'ConsoleLogin') = 'Success'
  AND {TIME}
GROUP BY useridentity.arn, sourceIPAddress
ORDER BY logins DESC, useridentity.arn, sourceIPAddress
LIMIT 10

-- name: top error codes
SELECT errorCode, errorMessage, COUNT(*) AS errors
FROM <EDS ID>
WHERE errorCode IS NOT NULL AND {TIME}
GROUP BY errorCode, errorMessage
ORDER BY errors DESC, errorCode
LIMIT 10

-- name: API calls by principal
SELECT userIdentity.principalId, userIdentity.arn, eventSource, COUNT(*), count_if(errorCode IS NOT NULL) AS failed
FROM <EDS ID>
WHERE {TIME}
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 3, 2
LIMIT 10

-- name: cross-account role assumptions
SELECT recipientAccountId, split_part(element_at(requestParameters, 'roleArn'), ':', 5) AS roleaccount,
       element_at(requestParameters, 'roleArn') AS rolearn, COUNT(*) AS assumptions
FROM <EDS ID>
WHERE eventName = 'AssumeRole' AND eventSource = 'sts.amazonaws.com'
  AND split_part(element_at(requestParameters, 'roleArn'), ':', 5) <> recipientAccountId
  AND {TIME}
GROUP BY 1, 2, 3
ORDER BY assumptions DESC, rolearn, recipientAccountId
LIMIT 10

-- name: security group changes
SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'groupId') AS groupid,
       json_extract_scalar(element_at(requestParameters, 'ipPermissions'), '$.items[0].ipRanges.items[0].cidrIp') AS cidr,
       json_extract_scalar(element_at(requestParameters, 'ipPermissions'), '$.items[0].fromPort') AS port
FROM <EDS ID>
WHERE eventName IN ('AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupEgress')
  AND errorCode IS NULL AND {TIME}
ORDER BY eventTime DESC, groupid
LIMIT 20

-- name: TLS versions
SELECT tlsDetails.tlsVersion, eventSource, COUNT(*) AS calls
FROM <EDS ID>
WHERE tlsDetails.tlsVersion IS NOT NULL AND {TIME}
GROUP BY tlsDetails.tlsVersion, eventSource
ORDER BY tlsVersion, calls DESC, eventSource
LIMIT 20

-- name: activity by IP
SELECT sourceIPAddress, COUNT(*) AS calls, approx_distinct(eventName) AS apis,
       arbitrary(userAgent) IS NOT NULL AS has_agent, MIN(eventTime) AS first, MAX(eventTime) AS last
FROM <EDS ID>
WHERE {TIME}
GROUP BY sourceIPAddress
ORDER BY calls DESC, sourceIPAddress
LIMIT 10

-- name: S3 public access changes
SELECT eventTime, eventName, element_at(requestParameters, 'bucketName') AS bucket,
       json_extract_scalar(element_at(requestParameters, 'PublicAccessBlockConfiguration'), '$.BlockPublicPolicy') AS blockpublicpolicy,
       userIdentity.arn
FROM <EDS ID>
WHERE eventSource = 's3.amazonaws.com'
  AND eventName IN ('PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock', 'PutBucketPolicy', 'PutBucketAcl')
  AND {TIME}
ORDER BY eventTime DESC, bucket
LIMIT 20

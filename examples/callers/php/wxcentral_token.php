<?php
// Get a WeChat credential from wxcentral's token endpoint, and report a
// rejected one, with SigV4-signed HTTP calls (aws-sdk-php's SignatureV4 and
// the Guzzle client it ships with).
//
//   composer install
//   WXCENTRAL_TOKEN_URL=https://abc.lambda-url.ap-east-1.on.aws/token \
//     php wxcentral_token.php get wx0123456789abcdef [KIND]
//   php wxcentral_token.php invalidate wx0123456789abcdef [KIND] < rejected-token
//
// WXCENTRAL_SIGNING_SERVICE: "lambda" for a Function URL (the default),
// "execute-api" for an HTTP API (the default when the host is
// *.execute-api.*). AWS_REGION when the host names no region. Credentials
// come from the SDK's default provider chain. Prints the JSON answer; exit
// 0 on 200, 1 on an error answer.

declare(strict_types=1);

require __DIR__ . '/vendor/autoload.php';

use Aws\Credentials\CredentialProvider;
use Aws\Signature\SignatureV4;
use GuzzleHttp\Client;
use GuzzleHttp\Psr7\Request;

/** An error answer {"error","message"} with its HTTP status. */
final class WxcentralError extends RuntimeException
{
    public function __construct(
        public readonly int $status,
        public readonly string $error, // unknown_app, token_unavailable, bad_request, force_*
        public readonly string $detail,
    ) {
        parent::__construct("$error (HTTP $status): $detail");
    }
}

final class WxcentralTokenClient
{
    private string $tokenUrl;
    private SignatureV4 $signer;
    private Client $http;
    /** @var callable */
    private $credentials;

    public function __construct(string $tokenUrl, ?string $service = null, ?string $region = null, ?callable $credentials = null)
    {
        $url = rtrim($tokenUrl, '/');
        if (!str_ends_with($url, '/token')) {
            $url .= '/token';
        }
        $this->tokenUrl = $url;
        $host = (string) parse_url($url, PHP_URL_HOST);
        $isFunctionUrl = preg_match('/\.lambda-url\.([a-z0-9-]+)\.on\.aws$/', $host, $fn) === 1;
        $isHttpApi = preg_match('/\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/', $host, $api) === 1;
        $service = $service ?: ($isHttpApi ? 'execute-api' : 'lambda');
        // The endpoint's own region signs; $region is for hosts that name none
        // (a custom domain, the local stack).
        $region = $isFunctionUrl ? $fn[1] : ($isHttpApi ? $api[1] : $region);
        if (!$region) {
            throw new InvalidArgumentException("AWS_REGION: required when the token URL's host does not name a region");
        }
        $this->signer = new SignatureV4($service, $region);
        $this->credentials = $credentials ?? CredentialProvider::defaultProvider();
        $this->http = new Client(['http_errors' => false, 'timeout' => 15]);
    }

    public static function fromEnv(): self
    {
        $url = trim((string) getenv('WXCENTRAL_TOKEN_URL'));
        if ($url === '') {
            throw new InvalidArgumentException("WXCENTRAL_TOKEN_URL: required (the stack's TokenUrl output)");
        }
        return new self($url, getenv('WXCENTRAL_SIGNING_SERVICE') ?: null, getenv('AWS_REGION') ?: null);
    }

    /** GET /token?appid=&kind=: the credential as an array, or WxcentralError. */
    public function get(string $appid, string $kind = 'access_token'): array
    {
        $query = http_build_query(['appid' => $appid, 'kind' => $kind], '', '&', PHP_QUERY_RFC3986);
        return $this->call(new Request('GET', "{$this->tokenUrl}?$query"));
    }

    /** POST /token/invalidate: report a token WeChat rejected (40001, 40014,
     *  42001); answers the current credential after the forced refresh. */
    public function invalidate(string $appid, string $kind, string $token): array
    {
        $body = json_encode(['appid' => $appid, 'kind' => $kind, 'token' => $token], JSON_THROW_ON_ERROR);
        return $this->call(new Request('POST', "{$this->tokenUrl}/invalidate", ['Content-Type' => 'application/json'], $body));
    }

    private function call(Request $request): array
    {
        $credentials = ($this->credentials)()->wait();
        // The signature covers the method, path, query, host and body hash.
        $signed = $this->signer->signRequest($request, $credentials);
        $resp = $this->http->send($signed);
        $raw = (string) $resp->getBody();
        $answer = json_decode($raw, true);
        if (!is_array($answer)) {
            $answer = [];
        }
        $status = $resp->getStatusCode();
        if ($status === 200) {
            return $answer;
        }
        // Lambda or API Gateway answer a bad signature or a missing
        // permission with 403 {"Message"/"message": ...}.
        throw new WxcentralError(
            $status,
            $answer['error'] ?? ($status === 403 ? 'forbidden' : 'http_error'),
            $answer['message'] ?? $answer['Message'] ?? substr($raw, 0, 200),
        );
    }
}

function main(array $argv): int
{
    [$op, $appid, $kind] = array_pad(array_slice($argv, 1), 3, null);
    if (!in_array($op, ['get', 'invalidate'], true) || !$appid || count($argv) > 4) {
        fwrite(STDERR, "usage: wxcentral_token.php get APPID [KIND] | invalidate APPID [KIND] < rejected-token\n");
        return 2;
    }
    $kind = $kind ?? 'access_token';
    try {
        $client = WxcentralTokenClient::fromEnv();
        if ($op === 'get') {
            $answer = $client->get($appid, $kind);
        } else {
            $token = trim((string) fgets(STDIN)); // never on the command line
            if ($token === '') {
                fwrite(STDERR, "invalidate: give the rejected token on standard input\n");
                return 2;
            }
            $answer = $client->invalidate($appid, $kind, $token);
        }
    } catch (InvalidArgumentException $e) {
        fwrite(STDERR, "wxcentral_token.php: {$e->getMessage()}\n");
        return 2;
    } catch (WxcentralError $e) {
        echo json_encode(['error' => $e->error, 'message' => $e->detail]), "\n";
        fwrite(STDERR, "wxcentral_token.php: {$e->getMessage()}\n");
        return 1;
    }
    echo json_encode($answer), "\n";
    return 0;
}

if (PHP_SAPI === 'cli' && realpath($argv[0]) === __FILE__) {
    exit(main($argv));
}

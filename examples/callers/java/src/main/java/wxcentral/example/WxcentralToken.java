package wxcentral.example;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;

/**
 * Gets a WeChat credential from wxcentral's token endpoint and reports a
 * rejected one, with SigV4-signed HTTP calls (AWS SDK for Java v2's
 * AwsV4HttpSigner, java.net.http for the call).
 *
 * <pre>
 * mvn -q package dependency:copy-dependencies
 * export WXCENTRAL_TOKEN_URL=https://abc.lambda-url.ap-east-1.on.aws/token
 * java -cp 'target/classes:target/dependency/*' wxcentral.example.WxcentralToken get wx0123456789abcdef
 * java -cp ... wxcentral.example.WxcentralToken invalidate wx0123456789abcdef access_token &lt; rejected-token
 * </pre>
 *
 * WXCENTRAL_SIGNING_SERVICE is "lambda" for a Function URL (the default) or
 * "execute-api" for an HTTP API (the default when the host is
 * *.execute-api.*); AWS_REGION is needed when the host names no region.
 * Credentials come from the SDK's default chain. Prints the JSON answer;
 * exits 0 on 200, 1 on an error answer.
 */
public final class WxcentralToken {
    private static final Pattern FUNCTION_URL_HOST = Pattern.compile("\\.lambda-url\\.([a-z0-9-]+)\\.on\\.aws$");
    private static final Pattern HTTP_API_HOST = Pattern.compile("\\.execute-api\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?$");

    /** One answer: the HTTP status and the JSON object of docs/callers.md. */
    public record Answer(int status, String json) {
        public boolean ok() {
            return status == 200;
        }

        /** A top-level string field ("token", "error", ...); use your JSON library in real code. */
        public String field(String name) {
            Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\":\"([^\"]*)\"").matcher(json);
            return m.find() ? m.group(1) : null;
        }
    }

    private final URI tokenUrl;
    private final String service;
    private final String region;
    private final AwsCredentialsProvider credentials;
    private final AwsV4HttpSigner signer = AwsV4HttpSigner.create();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public WxcentralToken(String tokenUrl, String service, String region, AwsCredentialsProvider credentials) {
        String url = tokenUrl.replaceAll("/+$", "");
        if (!url.endsWith("/token")) {
            url += "/token";
        }
        this.tokenUrl = URI.create(url);
        String host = this.tokenUrl.getHost();
        Matcher fn = FUNCTION_URL_HOST.matcher(host);
        Matcher api = HTTP_API_HOST.matcher(host);
        boolean isFunctionUrl = fn.find();
        boolean isHttpApi = api.find();
        this.service = service != null && !service.isBlank() ? service : (isHttpApi ? "execute-api" : "lambda");
        // The endpoint's own region signs; region is for hosts that name none
        // (a custom domain, the local stack).
        region = isFunctionUrl ? fn.group(1) : isHttpApi ? api.group(1) : region;
        if (region == null || region.isBlank()) {
            throw new IllegalArgumentException("AWS_REGION: required when the token URL's host does not name a region");
        }
        this.region = region;
        this.credentials = credentials;
    }

    public static WxcentralToken fromEnv() {
        String url = System.getenv().getOrDefault("WXCENTRAL_TOKEN_URL", "").trim();
        if (url.isEmpty()) {
            throw new IllegalArgumentException("WXCENTRAL_TOKEN_URL: required (the stack's TokenUrl output)");
        }
        String region = System.getenv("AWS_REGION");
        return new WxcentralToken(url, System.getenv("WXCENTRAL_SIGNING_SERVICE"), region,
                DefaultCredentialsProvider.builder().build());
    }

    /** GET /token?appid=&amp;kind=: the credential or an error answer. */
    public Answer get(String appid, String kind) throws IOException, InterruptedException {
        SdkHttpRequest request = SdkHttpRequest.builder()
                .method(SdkHttpMethod.GET)
                .uri(tokenUrl)
                .putRawQueryParameter("appid", appid)
                .putRawQueryParameter("kind", kind)
                .build();
        return send(request, "");
    }

    /**
     * POST /token/invalidate: report a token WeChat rejected (40001, 40014,
     * 42001); answers the current credential after the forced refresh.
     */
    public Answer invalidate(String appid, String kind, String token) throws IOException, InterruptedException {
        String body = "{\"appid\":" + quote(appid) + ",\"kind\":" + quote(kind) + ",\"token\":" + quote(token) + "}";
        SdkHttpRequest request = SdkHttpRequest.builder()
                .method(SdkHttpMethod.POST)
                .uri(URI.create(tokenUrl + "/invalidate"))
                .putHeader("Content-Type", "application/json")
                .build();
        return send(request, body);
    }

    private Answer send(SdkHttpRequest request, String body) throws IOException, InterruptedException {
        // The signature covers the method, path, query, host and body hash.
        SignedRequest signed = signer.sign(r -> r
                .identity(credentials.resolveCredentials())
                .request(request)
                .payload(ContentStreamProvider.fromUtf8String(body))
                .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, service)
                .putProperty(AwsV4HttpSigner.REGION_NAME, region));
        SdkHttpRequest s = signed.request();
        HttpRequest.Builder out = HttpRequest.newBuilder(s.getUri()).timeout(Duration.ofSeconds(15));
        for (Map.Entry<String, List<String>> h : s.headers().entrySet()) {
            String name = h.getKey();
            // java.net.http sets these itself (to the same values).
            if (name.equalsIgnoreCase("host") || name.equalsIgnoreCase("content-length")) {
                continue;
            }
            for (String v : h.getValue()) {
                out.header(name, v);
            }
        }
        out.method(s.method().name(), body.isEmpty()
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        HttpResponse<String> resp = http.send(out.build(), HttpResponse.BodyHandlers.ofString());
        return new Answer(resp.statusCode(), resp.body());
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3 || !(args[0].equals("get") || args[0].equals("invalidate"))) {
            System.err.println("usage: WxcentralToken get APPID [KIND] | invalidate APPID [KIND] < rejected-token");
            System.exit(2);
        }
        String kind = args.length == 3 ? args[2] : "access_token";
        WxcentralToken client;
        try {
            client = fromEnv();
        } catch (IllegalArgumentException e) {
            System.err.println("WxcentralToken: " + e.getMessage());
            System.exit(2);
            return;
        }
        Answer answer;
        if (args[0].equals("get")) {
            answer = client.get(args[1], kind);
        } else {
            // The rejected token comes on standard input, never on the command line.
            String token = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            if (token == null || token.isBlank()) {
                System.err.println("invalidate: give the rejected token on standard input");
                System.exit(2);
            }
            answer = client.invalidate(args[1], kind, token.trim());
        }
        System.out.println(answer.json());
        if (!answer.ok()) {
            System.err.println("WxcentralToken: " + answer.field("error") + " (HTTP " + answer.status() + "): " + answer.field("message"));
            System.exit(1);
        }
    }
}

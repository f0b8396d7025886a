package wxcentral.example;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.lambda.LambdaClient;
import software.amazon.awssdk.services.lambda.model.InvokeRequest;
import software.amazon.awssdk.services.lambda.model.InvokeResponse;

/**
 * The same two calls as {@link WxcentralToken} through a direct
 * lambda:InvokeFunction of the token function (the stack's
 * TokenFunctionName output) instead of its URL: no signing code, the SDK's
 * Lambda client signs. The answers are the same JSON objects; an error is an
 * answer with "error", never a function error.
 *
 * <pre>
 * export WXCENTRAL_TOKEN_FUNCTION=wxcentral-TokenFunction-AbC123 AWS_REGION=ap-east-1
 * java -cp 'target/classes:target/dependency/*' wxcentral.example.InvokeToken get wx0123456789abcdef
 * java -cp ... wxcentral.example.InvokeToken invalidate wx0123456789abcdef access_token &lt; rejected-token
 * </pre>
 */
public final class InvokeToken {
    private final LambdaClient lambda;
    private final String function;

    public InvokeToken(LambdaClient lambda, String function) {
        this.lambda = lambda;
        this.function = function;
    }

    /** {"appid","kind"}: the credential, or {"error","message"}. */
    public String get(String appid, String kind) {
        return invoke("{\"appid\":" + WxcentralToken.quote(appid) + ",\"kind\":" + WxcentralToken.quote(kind) + "}");
    }

    /** {"action":"invalidate","appid","kind","token"}: report a rejected token. */
    public String invalidate(String appid, String kind, String token) {
        return invoke("{\"action\":\"invalidate\",\"appid\":" + WxcentralToken.quote(appid)
                + ",\"kind\":" + WxcentralToken.quote(kind) + ",\"token\":" + WxcentralToken.quote(token) + "}");
    }

    private String invoke(String payload) {
        InvokeResponse resp = lambda.invoke(InvokeRequest.builder()
                .functionName(function)
                .payload(SdkBytes.fromUtf8String(payload))
                .build());
        if (resp.functionError() != null) {
            // A crash or timeout of the function itself, not an error answer.
            throw new IllegalStateException("token function error " + resp.functionError() + ": " + resp.payload().asUtf8String());
        }
        return resp.payload().asUtf8String();
    }

    public static void main(String[] args) throws Exception {
        String function = System.getenv().getOrDefault("WXCENTRAL_TOKEN_FUNCTION", "").trim();
        if (function.isEmpty() || args.length < 2 || args.length > 3 || !(args[0].equals("get") || args[0].equals("invalidate"))) {
            System.err.println("usage: WXCENTRAL_TOKEN_FUNCTION=<name or ARN> InvokeToken get APPID [KIND] | invalidate APPID [KIND] < rejected-token");
            System.exit(2);
        }
        String kind = args.length == 3 ? args[2] : "access_token";
        try (LambdaClient lambda = LambdaClient.builder().httpClient(UrlConnectionHttpClient.create()).build()) {
            InvokeToken client = new InvokeToken(lambda, function);
            String answer;
            if (args[0].equals("get")) {
                answer = client.get(args[1], kind);
            } else {
                String token = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
                if (token == null || token.isBlank()) {
                    System.err.println("invalidate: give the rejected token on standard input");
                    System.exit(2);
                }
                answer = client.invalidate(args[1], kind, token.trim());
            }
            System.out.println(answer);
            if (answer.contains("\"error\":")) {
                System.exit(1);
            }
        }
    }
}

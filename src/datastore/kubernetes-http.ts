/**
 * The HTTP side of the Kubernetes backend: a GET that returns the response
 * stream, with TLS and credentials applied by @kubernetes/client-node's
 * KubeConfig (client certs, bearer/service-account tokens, exec and OIDC
 * plugins all go through `applyToHTTPSOptions`).
 *
 * Why not client-node's `ListWatch`/`Watch`: in 1.4, `ListWatch` stops for
 * good on any error other than 410 (no retry, no backoff), never pages its
 * LIST, and has no in-sync signal; `Watch` drops unparsable lines silently
 * and its 30 s timeout signal is overwritten, so a silent peer hangs it.
 * We keep the contract in ./kubernetes-listwatch.ts and use KubeConfig for
 * the parts that are hard to get right (auth).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** One GET against the API server. */
export interface K8sTransport {
  /** Resolves with the response once headers arrive; `signal` aborts it. */
  get(path: string, query: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage>;
}

export interface K8sEnvConfig {
  KUBECONFIG?: string;
  K8S_API_ENDPOINT?: string;
  K8S_CERT_FILE?: string;
  K8S_KEY_FILE?: string;
  K8S_CA_FILE?: string;
  K8S_TOKEN?: string;
  K8S_INSECURE_SKIP_TLS_VERIFY?: string;
}

/**
 * Calico's variables: `K8S_API_ENDPOINT` (+ `K8S_CA_FILE`, `K8S_CERT_FILE`,
 * `K8S_KEY_FILE`, `K8S_TOKEN`) wins; else `KUBECONFIG`; else in-cluster
 * (service account) or ~/.kube/config, as client-node's loadFromDefault does.
 */
export function kubeConfigFromEnv(env: K8sEnvConfig): KubeConfig {
  const kc = new KubeConfig();
  const opt = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  const endpoint = opt(env.K8S_API_ENDPOINT);
  if (endpoint !== undefined) {
    kc.loadFromOptions({
      clusters: [
        {
          name: 'calico',
          server: endpoint,
          caFile: opt(env.K8S_CA_FILE),
          // client-node refuses plain http:// unless this is set; there is no
          // TLS to verify on such an endpoint (kubectl proxy, tests).
          skipTLSVerify: env.K8S_INSECURE_SKIP_TLS_VERIFY === 'true' || endpoint.startsWith('http:'),
        },
      ],
      users: [
        {
          name: 'calico',
          token: opt(env.K8S_TOKEN),
          certFile: opt(env.K8S_CERT_FILE),
          keyFile: opt(env.K8S_KEY_FILE),
        },
      ],
      contexts: [{ name: 'calico', cluster: 'calico', user: 'calico' }],
      currentContext: 'calico',
    });
  } else if (opt(env.KUBECONFIG) !== undefined) {
    kc.loadFromFile(env.KUBECONFIG!);
  } else {
    kc.loadFromDefault();
  }
  return kc;
}

/** A transport that talks to the KubeConfig's current cluster. */
export function kubeConfigTransport(kc: KubeConfig): K8sTransport {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const basePath = base.pathname.replace(/\/$/, '');
  return {
    async get(path, query, signal) {
      const url = new URL(base.toString());
      url.pathname = basePath + path;
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      const opts: RequestOptions = {};
      // Re-applied per request: tokens (service account, exec plugins) rotate.
      await kc.applyToHTTPSOptions(opts);
      const headers = { ...(opts.headers ?? {}), accept: 'application/json' };
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      return new Promise<IncomingMessage>((resolve, reject) => {
        const req = send(url, { ...opts, method: 'GET', headers, signal }, resolve);
        req.on('error', reject);
        req.end();
      });
    },
  };
}

/** Reads a whole (non-watch) response body as text. */
export async function readBody(res: IncomingMessage, maxBytes = 512 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > maxBytes) throw new Error('response body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

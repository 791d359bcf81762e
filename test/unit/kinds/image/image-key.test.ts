import { describe, expect, it } from 'vitest';
import { imageMapReference, isImageKey, isImageListKey, namesImages } from '../../../../src/kinds/image/image-key.js';

describe('the image-key rule shared by discovery, rewrite and audit', () => {
  it('a key ending in image (any case) holds one image; img too', () => {
    for (const k of ['image', 'Image', 'IMAGE', 'img', 'initImage', 'sidecarImage', 'busyboxImage', 'init_image', 'init-image', 'sidecarimage', 'INIT_IMAGE'])
      expect(isImageKey(k), k).toBe(true);
    for (const k of ['images', 'imagePullPolicy', 'imageTag', 'imageRegistry', 'tag', 'repository', 'imgs', 'imagesEnabled', 'image.tag', 'pimg'])
      expect(isImageKey(k), k).toBe(false);
  });

  it('a key ending in images holds a list', () => {
    for (const k of ['images', 'extraImages', 'initContainerImages', 'sidecar_images', 'imgs']) expect(isImageListKey(k), k).toBe(true);
    for (const k of ['image', 'imagesEnabled', 'imagePullSecrets']) expect(isImageListKey(k), k).toBe(false);
    expect(namesImages('extraImages') && namesImages('initImage') && !namesImages('imagePullSecrets')).toBe(true);
  });

  it('an image map becomes one reference only when it is one', () => {
    expect(imageMapReference({ registry: 'registry.k8s.io', repository: 'ingress-nginx/controller', tag: 'v1.11.2' })).toBe('registry.k8s.io/ingress-nginx/controller:v1.11.2');
    expect(imageMapReference({ repository: 'bitnami/redis', digest: 'sha256:' + 'a'.repeat(64) })).toBe('bitnami/redis@sha256:' + 'a'.repeat(64));
    expect(imageMapReference({ registry: '', repository: 'nginx', tag: '1.27' })).toBe('nginx:1.27');
    expect(imageMapReference({ repository: 'txt' })).toBeUndefined();
    expect(imageMapReference({ repository: 'https://charts.example.com', tag: '1' })).toBeUndefined();
    expect(imageMapReference({ repository: '{{ .Values.repo }}', tag: '1' })).toBeUndefined();
  });
});
